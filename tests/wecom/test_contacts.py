"""Contacts: a full sync makes the organisation exactly the sandbox's; a second one changes nothing."""

from __future__ import annotations

from sqlalchemy import select

from tests.wecom.conftest import wait_for
from wedraw.wecom.models import Department, Member, MemberDepartment, db


def world_contacts(sandbox, corp_id):
    corp = sandbox.world.corps[corp_id]
    with sandbox.world.lock:
        departments = {d.id: (d.name, d.parentid, d.order) for d in corp.departments.values()}
        members = {
            m.userid: (
                m.name,
                sorted(m.department),
                m.position or None,
                m.status,
                m.mobile or None,
                m.email or None,
                int(m.gender),
            )
            for m in corp.members.values()
        }
    return departments, members


def db_contacts(app, corp_ref):
    with app.app_context():
        departments = {
            d.department_id: (d.name, d.parent_id, d.order)
            for d in db.session.execute(select(Department).where(Department.corp_ref == corp_ref)).scalars()
        }
        links: dict[int, list[int]] = {}
        for member_id, dept in db.session.execute(
            select(MemberDepartment.member_id, MemberDepartment.department_id).where(
                MemberDepartment.corp_ref == corp_ref
            )
        ):
            links.setdefault(member_id, []).append(dept)
        members = {
            m.userid: (m.name, sorted(links.get(m.id, [])), m.position, m.status, m.mobile, m.email, m.gender)
            for m in db.session.execute(select(Member).where(Member.corp_ref == corp_ref)).scalars()
        }
    return departments, members


def run_sync(api, base, kind="contacts"):
    started = api.post(f"{base}/syncs", json={"kind": kind})
    assert started.status_code == 202, started.get_json()
    job_id = started.get_json()["id"]
    return wait_for(
        lambda: (j := api.get(f"{base}/syncs/{job_id}").get_json())["status"] in ("succeeded", "failed") and j,
        timeout=30,
    )


def test_full_sync_matches_the_sandbox_and_a_second_sync_changes_nothing(
    api, base, corp, sandbox, demo, wc_app, wecom_worker
):
    sandbox.control.reset(members=120, departments=12, callback_base=None)
    job = run_sync(api, base)
    assert job["status"] == "succeeded", job
    assert (job["total"], job["done"], job["progress"]) == (12, 12, 1.0)
    assert (job["fetched"], job["inserted"], job["updated"], job["deleted"]) == (120, 120, 0, 0)
    expected = world_contacts(sandbox, demo.corp_id)
    assert db_contacts(wc_app, corp["id"]) == expected
    assert len(expected[1]) == 120 and len(expected[0]) == 12

    with wc_app.app_context():
        before = {m.userid: m.updated_at for m in db.session.execute(select(Member)).scalars()}
    again = run_sync(api, base)
    assert again["status"] == "succeeded"
    assert (again["inserted"], again["updated"], again["unchanged"], again["deleted"]) == (0, 0, 120, 0)
    assert again["departments_changed"] == again["departments_deleted"] == 0
    with wc_app.app_context():
        assert {m.userid: m.updated_at for m in db.session.execute(select(Member)).scalars()} == before

    # A change WeCom made while no callback reached us (push: false) is repaired by the next sync.
    sandbox.control.update_user("user00003", name="改名了", department=[2, 3], push=False)
    sandbox.control.delete_user("user00004", push=False)
    sandbox.control.create_department(name="新部门", parentid=2, push=False)
    third = run_sync(api, base)
    assert (third["inserted"], third["updated"], third["deleted"], third["departments_changed"]) == (0, 1, 1, 1)
    assert db_contacts(wc_app, corp["id"]) == world_contacts(sandbox, demo.corp_id)


def test_department_tree_members_and_filters(api, base, corp, sandbox, demo, wecom_worker, make_user, login):
    assert run_sync(api, base)["status"] == "succeeded"
    tree = api.get(f"{base}/departments/tree").get_json()
    assert len(tree) == 1 and tree[0]["department_id"] == 1
    assert tree[0]["subtree_member_count"] == 30

    def find(nodes, dept_id):
        for node in nodes:
            if node["department_id"] == dept_id:
                return node
            found = find(node["children"], dept_id)
            if found:
                return found
        return None

    world = sandbox.world.corps[demo.corp_id]
    node = find(tree, 5)
    assert node is not None and node["name"] == world.departments[5].name
    assert node["member_count"] == sum(1 for m in world.members.values() if 5 in m.department)

    detail = api.get(f"{base}/departments/5").get_json()
    assert [p["department_id"] for p in detail["path"]] == [1, 2]  # 5's parent is 2 (5 // 2), then the root

    in_two = api.get(f"{base}/members", query_string={"department_id": 2, "page_size": 100}).get_json()
    below_two = api.get(
        f"{base}/members", query_string={"department_id": 2, "include_children": "true", "page_size": 100}
    ).get_json()
    subtree = {2, 5}  # 5 hangs under 2 in the seeded tree (d // 2)
    assert in_two["total"] == sum(1 for m in world.members.values() if 2 in m.department)
    assert below_two["total"] == sum(1 for m in world.members.values() if subtree & set(m.department))

    target = world.members["user00007"]
    found = api.get(f"{base}/members", query_string={"q": target.name}).get_json()
    assert "user00007" in [m["userid"] for m in found["items"]]
    disabled = api.get(f"{base}/members", query_string={"status": 2}).get_json()
    assert {m["userid"] for m in disabled["items"]} == {m.userid for m in world.members.values() if m.status == 2}

    member = next(m for m in found["items"] if m["userid"] == "user00007")
    assert (member["mobile"], member["email"]) == (target.mobile, target.email)  # the admin holds pii:personal:read
    assert member["mobile_state"] == "returned" and member["mobile_reason"] is None
    _, password = make_user("viewer", roles=("read_only",))
    viewer = {"Authorization": f"Bearer {login('viewer', password).access}"}
    masked = api.get(f"{base}/members/{member['id']}", headers=viewer).get_json()["member"]
    assert masked["mobile"] == target.mobile[:3] + "****" + target.mobile[-4:]
    assert masked["email"] == target.email[:2] + "***@wedraw.example"
    full = api.get(f"{base}/members/{member['id']}").get_json()
    assert [d["department_id"] for d in full["departments"]] == target.department


def test_mobile_and_email_say_why_when_wecom_withholds_them(api, base, corp, sandbox, wecom_worker):
    sandbox.control.create_user(userid="private1", name="隐私", department=[2], mobile=None, email="", push=False)
    assert run_sync(api, base)["status"] == "succeeded"
    found = api.get(f"{base}/members", query_string={"q": "private1"}).get_json()["items"][0]
    assert (found["mobile"], found["mobile_state"]) == (None, "withheld")
    assert "20 June 2022" in found["mobile_reason"]
    assert (found["email"], found["email_state"], found["email_reason"]) == (None, "empty", "Not set in WeCom.")


def test_a_sync_with_a_secret_wecom_refuses_fails_in_plain_words(api, base, corp, sandbox, wecom_worker):
    sandbox.control.fault("/cgi-bin/department/list", errcode=48002, times=None)
    job = run_sync(api, base)
    assert job["status"] == "failed"
    assert "not allowed to call the API" in job["error"] and "48002" in job["error"]
    sandbox.control.clear_faults()
    with_contacts_secret = api.patch(base, json={"contacts_secret": "not-the-contacts-secret"})
    assert with_contacts_secret.status_code == 200
    assert with_contacts_secret.get_json()["contacts_secret_hint"] == "****cret"
    job = run_sync(api, base)
    assert job["status"] == "failed" and "does not accept this secret" in job["error"]
