"""Message center HTTP API: thin views, schema in, one service call, schema out.

/api/message/channels                    the channels and what each takes
/api/message/senders                     apps messages go out as (Official Account, Mini Program, WeCom, robot)
/api/message/templates                   templates per channel (sync from WeChat, preview)
/api/message/audiences                   uploaded openid / userid lists, audience size estimates
/api/message/campaigns                   campaigns: create, start, pause, resume, cancel, progress, results
/api/message/sends                       single sends (idempotent) and the send log of every delivery
/api/message/workers                     worker fleet: workers and beat alive, queue lengths
"""

from __future__ import annotations

from flask import Response, stream_with_context
from flask_smorest import Api, Blueprint

from wedraw.core.audit import set_target
from wedraw.core.auth import current_identity, requires
from wedraw.core.pagination import PageArgs, page_of
from wedraw.message_center import schemas as s
from wedraw.message_center import services

PREFIX = "/api/message"
channels_blp = Blueprint("message-channels", __name__, url_prefix=PREFIX + "/channels", description="Channels")
senders_blp = Blueprint(
    "message-senders",
    __name__,
    url_prefix=PREFIX + "/senders",
    description="Senders: the WeChat apps messages go out as (credentials never returned)",
)
templates_blp = Blueprint(
    "message-templates", __name__, url_prefix=PREFIX + "/templates", description="Templates with typed variables"
)
audiences_blp = Blueprint(
    "message-audiences", __name__, url_prefix=PREFIX + "/audiences", description="Audience lists and size estimates"
)
campaigns_blp = Blueprint("message-campaigns", __name__, url_prefix=PREFIX + "/campaigns", description="Campaigns")
sends_blp = Blueprint(
    "message-sends", __name__, url_prefix=PREFIX + "/sends", description="Single sends and the send log"
)
workers_blp = Blueprint(
    "message-workers", __name__, url_prefix=PREFIX + "/workers", description="Worker fleet: liveness and queues"
)

UPSTREAM = {"description": "A service or WeChat this request depends on is unavailable (upstream_unavailable)"}


def _who() -> str | None:
    identity = current_identity()
    return identity["username"] if identity else None


# ---------------------------------------------------------------- channels


@channels_blp.route("", methods=["GET"])
@channels_blp.response(200, s.ChannelSchema(many=True))
@requires("message:templates:read")
def list_channels():
    """The channels, what each sends as and to, and its default rate limit."""
    return services.list_channels()


# ---------------------------------------------------------------- senders


@senders_blp.route("", methods=["GET"])
@senders_blp.arguments(s.SenderQuerySchema, location="query")
@senders_blp.response(200, page_of(s.SenderSchema))
@requires("message:sends:read")
def list_senders(args):
    """Senders (filter by kind, status, q)."""
    return services.list_senders(args)


@senders_blp.route("", methods=["POST"])
@senders_blp.arguments(s.SenderCreateSchema)
@senders_blp.response(201, s.SenderSchema)
@senders_blp.alt_response(409, description="This app is already a sender")
@senders_blp.alt_response(424, description=UPSTREAM["description"])
@requires("message:sends:write")
def create_sender(body):
    """An Official Account is added by appid (its credentials stay with the Official Account service)."""
    sender = services.create_sender(body)
    set_target(f"message_sender:{sender.id}")
    return sender


@senders_blp.route("/official-accounts", methods=["GET"])
@senders_blp.response(200, s.OfficialAccountRefSchema(many=True))
@senders_blp.alt_response(424, description=UPSTREAM["description"])
@requires("message:sends:read")
def official_accounts():
    """The Official Accounts that can be added as senders."""
    return services.official_accounts()


@senders_blp.route("/<id:sender_id>", methods=["GET"])
@senders_blp.response(200, s.SenderSchema)
@requires("message:sends:read")
def get_sender(sender_id):
    """One sender; credentials are never returned (only a hint)."""
    return services.get_sender(sender_id)


@senders_blp.route("/<id:sender_id>", methods=["PATCH"])
@senders_blp.arguments(s.SenderUpdateSchema)
@senders_blp.response(200, s.SenderSchema)
@requires("message:sends:write")
def update_sender(body, sender_id):
    """A new robot key or secret (or status active) clears a broken state."""
    set_target(f"message_sender:{sender_id}")
    return services.update_sender(sender_id, body)


@senders_blp.route("/<id:sender_id>", methods=["DELETE"])
@senders_blp.response(204)
@senders_blp.alt_response(409, description="Campaigns were sent by this sender")
@requires("message:sends:write")
def delete_sender(sender_id):
    """Only a sender no campaign was sent by (else 409: disable it)."""
    set_target(f"message_sender:{sender_id}")
    services.delete_sender(sender_id)


# ---------------------------------------------------------------- templates


@templates_blp.route("", methods=["GET"])
@templates_blp.arguments(s.TemplateQuerySchema, location="query")
@templates_blp.response(200, page_of(s.TemplateSchema))
@requires("message:templates:read")
def list_templates(args):
    """Templates (filter by channel, sender_id, source, q)."""
    return services.list_templates(args)


@templates_blp.route("", methods=["POST"])
@templates_blp.arguments(s.TemplateCreateSchema)
@templates_blp.response(201, s.TemplateSchema)
@requires("message:templates:write")
def create_template(body):
    """WeChat templates (oa_template, mp_subscribe) take WeChat's id and content; their variables are read from it."""
    template = services.create_template(body)
    set_target(f"message_template:{template.id}")
    return template


@templates_blp.route("/sync", methods=["POST"])
@templates_blp.arguments(s.TemplateSyncSchema)
@templates_blp.response(200, s.TemplateSchema(many=True))
@templates_blp.alt_response(424, description=UPSTREAM["description"])
@requires("message:templates:write")
def sync_templates(body):
    """Makes an Official Account's template-message templates exactly WeChat's."""
    set_target(f"message_sender:{body['sender_id']}")
    return services.sync_templates(body["sender_id"])


@templates_blp.route("/<id:template_id>", methods=["GET"])
@templates_blp.response(200, s.TemplateSchema)
@requires("message:templates:read")
def get_template(template_id):
    """One template with its typed variables."""
    return services.get_template(template_id)


@templates_blp.route("/<id:template_id>", methods=["PATCH"])
@templates_blp.arguments(s.TemplateUpdateSchema)
@templates_blp.response(200, s.TemplateSchema)
@requires("message:templates:write")
def update_template(body, template_id):
    """Name, content and variables of our templates; synced WeChat templates change in WeChat."""
    set_target(f"message_template:{template_id}")
    return services.update_template(template_id, body)


@templates_blp.route("/<id:template_id>", methods=["DELETE"])
@templates_blp.response(204)
@requires("message:templates:write")
def delete_template(template_id):
    """Campaigns that used it keep their rendered message."""
    set_target(f"message_template:{template_id}")
    services.delete_template(template_id)


@templates_blp.route("/<id:template_id>/preview", methods=["GET"])
@templates_blp.arguments(s.PreviewSchema, location="query")
@templates_blp.response(200, s.PreviewResultSchema)
@requires("message:templates:read")
def preview_template(args, template_id):
    """Renders sample data (`data` is a JSON object); a missing, unknown, too long or ill-typed variable is a
    422 naming it."""
    return services.preview_template(template_id, args["data"], args["options"])


# ---------------------------------------------------------------- audiences


@audiences_blp.route("", methods=["GET"])
@audiences_blp.arguments(s.QuerySchema, location="query")
@audiences_blp.response(200, page_of(s.AudienceListSchema))
@requires("message:campaigns:read")
def list_audiences(args):
    """Uploaded audience lists, newest first."""
    return services.list_lists(args)


@audiences_blp.route("", methods=["POST"])
@audiences_blp.arguments(s.AudienceListCreateSchema)
@audiences_blp.response(201, s.AudienceListSchema)
@requires("message:campaigns:write")
def create_audience(body):
    """Upload openids (or WeCom userids) as a list or as CSV text; duplicates are dropped."""
    items = list(body.get("targets") or []) + services.parse_csv(body.get("csv") or "")
    audience = services.create_list(body["name"], body["target_kind"], items, _who())
    set_target(f"message_audience:{audience.id}")
    return audience


@audiences_blp.route("/estimate", methods=["GET"])
@audiences_blp.arguments(s.EstimateSchema, location="query")
@audiences_blp.response(200, s.EstimateResultSchema)
@audiences_blp.alt_response(424, description=UPSTREAM["description"])
@requires("message:campaigns:read")
def estimate_audience(args):
    """How many recipients an audience has now (shown in the campaign wizard before sending)."""
    audience = {k: args[k] for k in ("kind", "tag_id", "list_id") if args.get(k) is not None}
    if args["kind"] == "members":
        audience["filter"] = s.member_filter(args)
    return services.estimate(args["sender_id"], audience)


@audiences_blp.route("/<id:list_id>", methods=["GET"])
@audiences_blp.response(200, s.AudienceListSchema)
@requires("message:campaigns:read")
def get_audience(list_id):
    """One audience list (its size)."""
    return services.get_list(list_id)


@audiences_blp.route("/<id:list_id>", methods=["DELETE"])
@audiences_blp.response(204)
@audiences_blp.alt_response(409, description="A campaign waiting to send uses this list")
@requires("message:campaigns:write")
def delete_audience(list_id):
    """Not while a campaign waiting to send uses it (409)."""
    set_target(f"message_audience:{list_id}")
    services.delete_list(list_id)


@audiences_blp.route("/<id:list_id>/items", methods=["GET"])
@audiences_blp.arguments(PageArgs, location="query")
@audiences_blp.response(200, page_of(s.AudienceItemSchema))
@requires("message:campaigns:read")
def audience_items(args, list_id):
    """The openids / userids of a list, paged."""
    return services.list_items(list_id, args["page"], args["page_size"])


# ---------------------------------------------------------------- campaigns


@campaigns_blp.route("", methods=["GET"])
@campaigns_blp.arguments(s.CampaignQuerySchema, location="query")
@campaigns_blp.response(200, page_of(s.CampaignSchema))
@requires("message:campaigns:read")
def list_campaigns(args):
    """Campaigns, newest first (filter by status, channel, sender_id, q)."""
    return services.list_campaigns(args)


@campaigns_blp.route("", methods=["POST"])
@campaigns_blp.arguments(s.CampaignCreateSchema)
@campaigns_blp.response(201, s.CampaignSchema)
@campaigns_blp.alt_response(409, description="The sender is broken or disabled")
@campaigns_blp.alt_response(424, description=UPSTREAM["description"])
@requires("message:campaigns:write")
def create_campaign(body):
    """A draft, a scheduled campaign (scheduled_at) or one sent now (start: true).

    Rejected with 422 before anything is queued: unknown template, template data missing,
    unknown, too long or ill-typed, an empty audience, a schedule in the past.
    """
    campaign = services.create_campaign(body, _who())
    set_target(f"message_campaign:{campaign.id}")
    return campaign


@campaigns_blp.route("/<id:campaign_id>", methods=["GET"])
@campaigns_blp.response(200, s.CampaignSchema)
@requires("message:campaigns:read")
def get_campaign(campaign_id):
    """One campaign: what it sends, to whom, its state and times."""
    return services.get_campaign(campaign_id)


@campaigns_blp.route("/<id:campaign_id>", methods=["PATCH"])
@campaigns_blp.arguments(s.CampaignUpdateSchema)
@campaigns_blp.response(200, s.CampaignSchema)
@campaigns_blp.alt_response(409, description="Only drafts and scheduled campaigns can be edited")
@campaigns_blp.alt_response(424, description=UPSTREAM["description"])
@requires("message:campaigns:write")
def update_campaign(body, campaign_id):
    """Drafts and scheduled campaigns only (409 otherwise); checked again as on creation."""
    set_target(f"message_campaign:{campaign_id}")
    return services.update_campaign(campaign_id, body, _who())


@campaigns_blp.route("/<id:campaign_id>", methods=["DELETE"])
@campaigns_blp.response(204)
@campaigns_blp.alt_response(409, description="A running, preparing or paused campaign")
@requires("message:campaigns:write")
def delete_campaign(campaign_id):
    """Not while preparing, running or paused (cancel first)."""
    set_target(f"message_campaign:{campaign_id}")
    services.delete_campaign(campaign_id)


def _action(name: str, doc: str, fn):
    @campaigns_blp.route(f"/<id:campaign_id>/{name}", methods=["POST"], endpoint=f"{name}_campaign")
    @campaigns_blp.response(200, s.CampaignSchema)
    @campaigns_blp.alt_response(409, description="Not allowed in the campaign's current state")
    @campaigns_blp.doc(summary=doc.split(".")[0], description=doc)
    @requires("message:campaigns:write")
    def view(campaign_id):
        set_target(f"message_campaign:{campaign_id}")
        return fn(campaign_id)

    return view


start_campaign = _action("start", "Sends a draft or scheduled campaign now.", services.start_campaign)
pause_campaign = _action("pause", "In-flight sends finish; the rest waits.", services.pause_campaign)
resume_campaign = _action("resume", "Continues a paused campaign.", services.resume_campaign)
cancel_campaign = _action(
    "cancel", "Recipients not yet sent are cancelled; a finished campaign answers 409.", services.cancel_campaign
)


@campaigns_blp.route("/<id:campaign_id>/progress", methods=["GET"])
@campaigns_blp.response(200, s.ProgressSchema)
@requires("message:campaigns:read")
def campaign_progress(campaign_id):
    """Counts per status, the send rate, WeChat's job reports and mass jobs (poll it for a progress bar)."""
    return services.progress(campaign_id)


@campaigns_blp.route("/<id:campaign_id>/recipients", methods=["GET"])
@campaigns_blp.arguments(s.DeliveryQuerySchema, location="query")
@campaigns_blp.response(200, page_of(s.DeliverySchema))
@requires("message:campaigns:read")
def campaign_recipients(args, campaign_id):
    """Per-recipient results: status, attempts, WeChat errcode and meaning (filter by status, errcode, q)."""
    return services.recipients(campaign_id, args)


@campaigns_blp.route("/<id:campaign_id>/failures", methods=["GET"])
@campaigns_blp.response(200, s.FailureReasonSchema(many=True))
@requires("message:campaigns:read")
def campaign_failures(campaign_id):
    """Failed recipients grouped by WeChat errcode, with WeChat's meaning."""
    return services.failure_reasons(campaign_id)


@campaigns_blp.route("/<id:campaign_id>/export.csv", methods=["GET"])
@campaigns_blp.doc(
    responses={
        "200": {
            "description": "Every recipient's result, streamed",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    }
)
@requires("message:campaigns:read")
def export_campaign(campaign_id):
    """Every recipient's result as CSV, streamed (UTF-8 with a BOM)."""
    rows = services.export_csv(campaign_id)
    return Response(
        stream_with_context(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )


# ---------------------------------------------------------------- sends


@sends_blp.route("", methods=["GET"])
@sends_blp.arguments(s.SendQuerySchema, location="query")
@sends_blp.response(200, page_of(s.SendLogSchema))
@requires("message:sends:read")
def list_sends(args):
    """The send log: single sends and campaign recipients, newest first."""
    return services.list_sends(args)


@sends_blp.route("", methods=["POST"])
@sends_blp.arguments(s.SendCreateSchema)
@sends_blp.response(202, s.DeliverySchema)
@sends_blp.alt_response(200, schema=s.DeliverySchema, description="The idempotency key was seen: the earlier send")
@sends_blp.alt_response(409, description="Idempotency key reused for another message, or the sender is broken")
@sends_blp.alt_response(424, description=UPSTREAM["description"])
@requires("message:sends:write")
def create_send(body):
    """One message to one recipient (or a robot's group), queued; repeat it with the same key safely."""
    row, created = services.create_send(body, _who())
    set_target(f"message_send:{row.id}")
    return (row, 202) if created else (row, 200)


@sends_blp.route("/<id:delivery_id>", methods=["GET"])
@sends_blp.response(200, s.DeliverySchema)
@requires("message:sends:read")
def get_send(delivery_id):
    """One send (or campaign recipient) with its preview and outcome."""
    return services.get_send(delivery_id)


# ---------------------------------------------------------------- workers


@workers_blp.route("", methods=["GET"])
@workers_blp.response(200, s.FleetSchema)
@requires("message:workers:read")
def fleet():
    """Every queue with its waiting messages and live workers, beat's liveness, the periodic jobs."""
    from flask import current_app

    from wedraw.message_center.fleet import status

    return status(current_app.config["WEDRAW_SETTINGS"])


def register(app, api: Api) -> None:
    # Service-to-service routes for the WeCom service (service tokens; not in the OpenAPI document).
    from wedraw.message_center.internal_wecom import bp as wecom_internal_bp

    for blp in (channels_blp, senders_blp, templates_blp, audiences_blp, campaigns_blp, sends_blp, workers_blp):
        api.register_blueprint(blp)
    app.register_blueprint(wecom_internal_bp)
