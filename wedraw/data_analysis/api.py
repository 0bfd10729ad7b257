"""HTTP API of the data_analysis service: thin views, schema in, one service call, schema out.

- `/api/analytics/dashboard/...` (analytics:dashboard:read): the metric catalogue, KPIs with the
  change versus the previous period, time series at day/week/month, top products, top QR codes,
  campaign funnels; read on the read replica when one is configured.
- `/api/analytics/reports` (analytics:reports:read / write): request a report, list, look at one,
  retry a failed one, download a finished one (403 without analytics:reports:read).
"""

from __future__ import annotations

from flask import send_file
from flask_smorest import Api, Blueprint

from wedraw.core.audit import set_target
from wedraw.core.auth import current_identity, requires
from wedraw.data_analysis import dashboard, reports
from wedraw.data_analysis import schemas as s

dashboard_blp = Blueprint(
    "analytics-dashboard",
    __name__,
    url_prefix="/api/analytics/dashboard",
    description="Dashboard numbers from the daily statistics: KPIs, time series, top lists, campaign funnels",
)
reports_blp = Blueprint(
    "analytics-reports",
    __name__,
    url_prefix="/api/analytics/reports",
    description="Reports written by workers as CSV or XLSX: request, progress, retry, download",
)


def _who() -> str | None:
    identity = current_identity()
    return identity["username"] if identity else None


@dashboard_blp.route("/metrics", methods=["GET"])
@dashboard_blp.response(200, s.MetricSchema(many=True))
@requires("analytics:dashboard:read")
def metrics():
    """Every metric a series or KPI can show."""
    return dashboard.metrics_catalogue()


@dashboard_blp.route("/kpis", methods=["GET"])
@dashboard_blp.arguments(s.RangeArgs, location="query")
@dashboard_blp.response(200, s.KpisSchema)
@requires("analytics:dashboard:read")
def kpis(args):
    """Every metric over the range beside the same number of days just before it."""
    return dashboard.kpis(args["date_from"], args["date_to"], args.get("account"))


@dashboard_blp.route("/series", methods=["GET"])
@dashboard_blp.arguments(s.SeriesArgs, location="query")
@dashboard_blp.response(200, s.SeriesSchema)
@requires("analytics:dashboard:read")
def series(args):
    """One metric over a range by day (at most a year), week or month; 422 for an unknown metric."""
    return dashboard.series(
        args["metric"],
        args["date_from"],
        args["date_to"],
        args["granularity"],
        args.get("account"),
        args.get("dimension"),
    )


@dashboard_blp.route("/breakdown", methods=["GET"])
@dashboard_blp.arguments(s.BreakdownArgs, location="query")
@dashboard_blp.response(200, s.BreakdownSchema)
@requires("analytics:dashboard:read")
def breakdown(args):
    """A counted metric split by its dimension over the range (points by business type, sends by channel)."""
    return dashboard.breakdown(args["metric"], args["date_from"], args["date_to"], args.get("account"), args["limit"])


@dashboard_blp.route("/accounts", methods=["GET"])
@dashboard_blp.response(200, s.AccountSchema(many=True))
@requires("analytics:dashboard:read")
def accounts():
    """The accounts the statistics are kept per (Official Account appids, WeCom corp ids)."""
    return dashboard.accounts()


@dashboard_blp.route("/top-products", methods=["GET"])
@dashboard_blp.arguments(s.TopArgs, location="query")
@dashboard_blp.response(200, s.TopProductSchema(many=True))
@requires("analytics:dashboard:read")
def top_products(args):
    """Products by exchange orders (then points) in the range."""
    return dashboard.top_products(args["date_from"], args["date_to"], args["limit"])


@dashboard_blp.route("/top-qrcodes", methods=["GET"])
@dashboard_blp.arguments(s.TopArgs, location="query")
@dashboard_blp.response(200, s.TopQrCodeSchema(many=True))
@requires("analytics:dashboard:read")
def top_qrcodes(args):
    """QR code scenes by the follows they brought (then scans) in the range."""
    return dashboard.top_qrcodes(args["date_from"], args["date_to"], args["limit"])


@dashboard_blp.route("/campaigns", methods=["GET"])
@dashboard_blp.arguments(s.FunnelArgs, location="query")
@dashboard_blp.response(200, s.FunnelSchema(many=True))
@requires("analytics:dashboard:read")
def campaign_funnels(args):
    """Campaign funnels: targeted → sent → failed, failures by reason."""
    return dashboard.campaign_funnels(args["date_from"], args["date_to"], args["limit"], args.get("campaign_id"))


@reports_blp.route("/kinds", methods=["GET"])
@reports_blp.response(200, s.ReportKindSchema(many=True))
@requires("analytics:reports:read")
def report_kinds():
    return [{"kind": kind, "label": label} for kind, label in reports.KINDS.items()]


@reports_blp.route("", methods=["GET"])
@reports_blp.arguments(s.ReportQuerySchema, location="query")
@reports_blp.response(200, s.page_of_reports)
@requires("analytics:reports:read")
def list_reports(args):
    return reports.list_reports(args)


@reports_blp.route("", methods=["POST"])
@reports_blp.arguments(s.ReportRequestSchema)
@reports_blp.response(202, s.ReportSchema)
@requires("analytics:reports:write")
def request_report(body):
    """Queues a report (at most one year); a worker on the reports queue writes it."""
    report = reports.request_report(body["kind"], body["format"], body["date_from"], body["date_to"], _who())
    set_target(f"analytics_report:{report.id}")
    return report


@reports_blp.route("/<id:report_id>", methods=["GET"])
@reports_blp.response(200, s.ReportSchema)
@requires("analytics:reports:read")
def get_report(report_id):
    return reports.get_report(report_id)


@reports_blp.route("/<id:report_id>/retry", methods=["POST"])
@reports_blp.response(202, s.ReportSchema)
@requires("analytics:reports:write")
def retry_report(report_id):
    """Runs a failed (or expired) report again; 409 for any other."""
    set_target(f"analytics_report:{report_id}")
    return reports.retry_report(report_id)


@reports_blp.route("/<id:report_id>/download", methods=["GET"])
@reports_blp.doc(
    responses={
        "200": {
            "description": "The report's file",
            "content": {
                "text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        }
    }
)
@requires("analytics:reports:read")
def download_report(report_id):
    """The finished file; 409 while not done, 410 once removed after its retention."""
    report = reports.get_report(report_id)
    path = reports.download_path(report)
    mimetype = (
        "text/csv" if report.format == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=reports.download_name(report))


def register(app, api: Api) -> None:
    api.register_blueprint(dashboard_blp)
    api.register_blueprint(reports_blp)
