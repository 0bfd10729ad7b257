"""An operator signs in to the real console and finds the admin in the users page."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page, console_url, username="admin", password=ADMIN_PASSWORD):
    page.goto(console_url + "/")
    page.wait_for_url(re.compile(r".*/login.*"))
    page.locator('[data-test="login-username"]').fill(username)
    page.locator('[data-test="login-password"]').fill(password)
    page.locator('[data-test="login-submit"]').click()


def test_sign_in_open_users_and_see_the_admin(page, console_url):
    sign_in(page, console_url)
    page.locator('[data-test="menu-users"]').click()
    table = page.locator('[data-test="users-table"]')
    table.get_by_text("admin", exact=True).first.wait_for()
    assert "管理员" in table.inner_text()
    assert page.title()  # a page title is set per route


def test_wrong_password_shows_a_chinese_message(page, console_url):
    sign_in(page, console_url, password="wrong-password-1")
    error = page.locator('[data-test="login-error"]')
    error.wait_for()
    assert "用户名或密码错误" in error.inner_text() or "错误" in error.inner_text()
    assert "/login" in page.url


def test_read_only_sees_no_write_buttons_and_no_roles_menu(page, console_url, make_user):
    _, password = make_user("guancha", roles=("read_only",))
    sign_in(page, console_url, "guancha", password)
    page.locator('[data-test="menu-users"]').click()
    page.locator('[data-test="users-table"]').get_by_text("guancha", exact=True).first.wait_for()
    assert page.get_by_role("button", name=re.compile("新建|新增")).count() == 0


def test_built_in_roles_and_permissions_read_in_chinese(page, console_url):
    sign_in(page, console_url)
    page.wait_for_url(re.compile(r".*/$"))
    assert "当前角色：超级管理员" in page.get_by_text("当前角色").inner_text()
    page.goto(console_url + "/user-center/roles")
    table = page.locator('[data-test="roles-table"]')
    row = table.locator("tr", has_text="super_admin")
    row.wait_for()
    assert row.locator('[data-test="role-name"]').inner_text() == "超级管理员"
    assert "全部权限，含未脱敏的个人信息" in row.inner_text()
    assert "运营" in table.inner_text() and "只读" in table.inner_text()
    row.get_by_text("查看").click()
    picker = page.locator('[data-test="permission-picker"]')
    picker.get_by_text("查看后台用户").wait_for()
    assert "管理群发活动" in picker.inner_text() and "查看未脱敏的个人信息（手机号、邮箱）" in picker.inner_text()
    assert not re.search(r"\b(Read|Change) ", picker.inner_text())
