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


def test_the_apis_field_errors_show_in_chinese_under_their_fields(page, console_url):
    """Whatever the API refuses in a form shows under its field, marshmallow's messages in Chinese."""
    refusal = {
        "code": "validation_error",
        "message": "Invalid input.",
        "errors": {
            "username": ["Length must be between 3 and 64."],
            "email": ["Not a valid email address."],
            "role_ids": ["Must be greater than or equal to 1."],
            "display_name": ["Something only the server knows."],
        },
    }

    def refuse(route):
        if route.request.method == "POST":
            route.fulfill(status=422, json=refusal)
        else:
            route.fallback()

    sign_in(page, console_url)
    page.wait_for_url(re.compile(r".*/$"))
    page.goto(console_url + "/user-center/users")
    page.route(re.compile(r".*/api/users$"), refuse)
    page.locator('[data-test="users-create"]').click()
    page.locator('[data-test="user-form-username"]').fill("zhangsan")
    page.locator('[data-test="user-form-password"]').fill("Zhang-san-2026")
    page.locator('[data-test="user-form-display-name"]').fill("张三")
    page.locator('[data-test="user-form-submit"]').click()
    errors = page.locator(".el-form-item__error")
    errors.get_by_text("长度须在 3 到 64 之间").wait_for()
    shown = errors.all_inner_texts()
    assert "邮箱格式不正确" in shown and "不能小于 1" in shown
    assert "Something only the server knows." in shown  # an unknown message is shown as it is


def test_an_english_refusal_gets_a_chinese_headline(page, console_url):
    """The API explains a 409 in English; the toast leads with Chinese and keeps the reason."""
    sign_in(page, console_url)
    page.wait_for_url(re.compile(r".*/$"))
    page.goto(console_url + "/user-center/users")
    page.locator('[data-test="users-create"]').click()
    page.locator('[data-test="user-form-username"]').fill("admin")  # taken
    page.locator('[data-test="user-form-password"]').fill("Zhang-san-2026")
    page.locator('[data-test="user-form-display-name"]').fill("重名")
    page.locator('[data-test="user-form-submit"]').click()
    toast = page.locator(".el-message--error")
    toast.get_by_text("操作冲突，请刷新后重试：The username 'admin' is taken.").wait_for()
