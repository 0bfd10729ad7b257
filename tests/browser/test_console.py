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
