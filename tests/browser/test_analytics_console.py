"""The 数据分析 console pages with the demo data `make run` seeds: charts render; a report is made and downloaded."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from tests.browser.test_console import sign_in
from tests.conftest import run_worker

pytestmark = pytest.mark.browser

CHARTS = (
    "chart-trend",
    "chart-points",
    "chart-sends",
    "chart-earned-by-type",
    "chart-products",
    "chart-qrcodes",
    "chart-funnel",
)


@pytest.fixture
def analytics_demo(apps):
    """The demo facts and their daily statistics, seeded as `make run` seeds them."""
    from wedraw.data_analysis import seed

    with apps["data_analysis"].app_context():
        seed(apps["data_analysis"], lambda _message: None)


@pytest.fixture
def reports_worker(apps, settings):
    """A real Celery worker (in a thread) on the data analysis `reports` queue."""
    from workers.bootstrap import build_worker_app

    celery = build_worker_app("data_analysis", settings=settings)
    with run_worker(celery, queues=["reports"]):
        yield celery


def open_analytics(page, console_url, item):
    sign_in(page, console_url)
    page.locator('[data-test="current-user"]').wait_for()
    page.locator('[data-test="menu-group-analytics"]').click()
    page.locator(f'[data-test="menu-analytics-{item}"]').click()


def test_the_dashboard_renders_its_charts_with_the_demo_data(page, console_url, analytics_demo):
    open_analytics(page, console_url, "dashboard")
    page.locator('[data-test="analytics-dashboard"]').wait_for()
    new_fans = page.locator('[data-test="kpi-new_fans"] [data-test="kpi-value"]')
    new_fans.wait_for()
    page.wait_for_function(
        "document.querySelector('[data-test=\"kpi-new_fans\"] [data-test=\"kpi-value\"]').innerText !== '0'",
        polling=100,
        timeout=10_000,
    )
    for chart in CHARTS:
        panel = page.locator(f'[data-test="{chart}"]')
        panel.locator("canvas").first.wait_for()
        assert panel.get_attribute("data-empty") == "false", chart
    # The chosen campaign's failures by reason, beside its funnel.
    assert page.locator('[data-test="funnel-reasons"] .el-table__row').count() > 0

    # One account: the WeCom corp has members but no fans.
    page.locator('[data-test="analytics-account"]').click()
    page.locator(".el-select-dropdown__item").filter(has_text="企业微信").first.click()
    page.wait_for_function(
        "document.querySelector('[data-test=\"kpi-new_fans\"] [data-test=\"kpi-value\"]').innerText === '0'",
        polling=100,
        timeout=10_000,
    )
    assert page.locator('[data-test="kpi-wecom_members"] [data-test="kpi-value"]').inner_text() != "0"
    page.locator('[data-test="analytics-account"] .el-select__wrapper').hover()
    page.locator('[data-test="analytics-account"] .el-select__clear').click()
    page.wait_for_function(
        "document.querySelector('[data-test=\"kpi-new_fans\"] [data-test=\"kpi-value\"]').innerText !== '0'",
        polling=100,
        timeout=10_000,
    )

    # By month: the same charts, fewer points; the KPIs stay.
    page.locator('[data-test="analytics-granularity"]').get_by_text("按月").click()
    page.locator('[data-test="chart-trend"] canvas').first.wait_for()
    assert page.locator('[data-test="chart-trend"]').get_attribute("data-empty") == "false"


def test_a_report_is_requested_completes_and_downloads(page, console_url, analytics_demo, reports_worker, tmp_path):
    open_analytics(page, console_url, "reports")
    page.locator('[data-test="report-submit"]').click()
    table = page.locator('[data-test="reports-table"]')
    table.get_by_text("积分流水").wait_for()
    page.locator('[data-test="report-download"]').wait_for(timeout=60_000)  # the worker wrote it; the page polled
    assert "已完成" in table.inner_text()
    with page.expect_download() as info:
        page.locator('[data-test="report-download"]').first.click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    sheet = load_workbook(saved, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("时间", "流水号", "积分账户", "业务类型")
    assert len(rows) > 1
