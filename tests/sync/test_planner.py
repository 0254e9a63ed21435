"""The pure planner: examples for each rule, and Hypothesis properties over random worlds."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace

from hypothesis import given, settings
from hypothesis import strategies as st

from app.crm.values import ContactData
from app.extensions import shown_message
from app.sync.mapping import MappedContact, map_contact
from app.sync.planner import (
    CREATE_BATCH,
    DELETE_BATCH,
    MEMBERSHIP_BATCH,
    UPDATE_BATCH,
    Blocked,
    CreateOp,
    GoogleFacts,
    Limits,
    MappingEntry,
    Plan,
    RemoteContact,
    RowState,
    plan,
    within_contact_limit,
)


def contact(crm_id: str, name: str = "Ann") -> MappedContact:
    return map_contact(ContactData(crm_id=crm_id, given_name=name))


def synced(crm_id: str, name: str = "Ann", rn: str | None = None, **kw: object) -> MappingEntry:
    return MappingEntry(
        crm_id=crm_id,
        resource_name=rn or f"people/{crm_id}",
        field_hash=contact(crm_id, name).field_hash,
        state=RowState.SYNCED,
        **kw,  # type: ignore[arg-type]
    )


def remote(rn: str, name: str = "Ann", crm_id: str = "", **kw: bool) -> RemoteContact:
    values = {"in_group": True, "in_user_groups": False} | kw
    return RemoteContact(
        resource_name=rn,
        etag="e1",
        field_hash=contact(crm_id or rn, name).field_hash,
        in_group=values["in_group"],
        in_user_groups=values["in_user_groups"],
    )


def test_new_contacts_are_created_in_batches_of_200() -> None:
    result = plan([contact(f"c{i}") for i in range(450)], [], GoogleFacts())
    assert [len(b) for b in result.create_batches] == [200, 200, 50]
    assert result.write_requests == 3


def test_unchanged_contacts_cost_nothing() -> None:
    result = plan([contact("a")], [synced("a")], GoogleFacts())
    assert result.is_empty
    assert result.in_sync == 1


def test_crm_change_is_an_update_of_that_contact() -> None:
    result = plan([contact("a", "Bob")], [synced("a")], GoogleFacts())
    assert [(u.crm_id, u.resource_name) for b in result.update_batches for u in b] == [("a", "people/a")]


def test_edit_in_google_is_repaired_from_crm() -> None:
    facts = GoogleFacts(inspected={"people/a": remote("people/a", "Edited", "a")})
    result = plan([contact("a")], [synced("a")], facts)
    assert result.updates == 1


def test_contact_deleted_in_google_is_recreated_and_flagged_unless_stopped() -> None:
    facts = GoogleFacts(missing=frozenset({"people/a"}))
    result = plan([contact("a")], [synced("a")], facts)
    assert [(c.crm_id, c.recreate) for b in result.create_batches for c in b] == [("a", True)]

    stopped = plan([contact("a")], [synced("a", stop_syncing=True)], facts)
    assert stopped.is_empty
    assert stopped.stopped == 1


def test_contact_taken_out_of_the_group_is_put_back() -> None:
    facts = GoogleFacts(inspected={"people/a": remote("people/a", crm_id="a", in_group=False)})
    result = plan([contact("a")], [synced("a")], facts)
    assert [m.resource_name for m in result.readd] == ["people/a"]
    assert result.updates == 0


def test_leaving_contact_is_deleted_or_only_released_when_in_a_users_group() -> None:
    rows = [synced("a"), synced("b")]
    facts = GoogleFacts(
        inspected={
            "people/a": remote("people/a", crm_id="a"),
            "people/b": remote("people/b", crm_id="b", in_user_groups=True),
        }
    )
    result = plan([], rows, facts)
    assert [d.resource_name for b in result.delete_batches for d in b] == ["people/a"]
    assert [m.resource_name for m in result.release] == ["people/b"]
    assert set(result.forget) == {"a", "b"}


def test_leaving_contact_not_inspected_is_not_deleted_blind() -> None:
    result = plan([], [synced("a")], GoogleFacts())
    assert result.is_empty
    assert result.deferred == 1


def test_intent_row_with_tagged_contact_in_group_is_adopted_and_twins_deleted() -> None:
    row = MappingEntry("a", None, None, RowState.INTENDED)
    strays = {"a": [remote("people/2", crm_id="a"), remote("people/1", crm_id="a")]}
    result = plan([contact("a")], [row], GoogleFacts(strays=strays))
    assert [(a.crm_id, a.remote.resource_name) for a in result.adoptions] == [("a", "people/1")]
    assert [(d.resource_name, d.duplicate) for b in result.delete_batches for d in b] == [("people/2", True)]
    assert result.creates == 0


def test_intent_row_without_a_tagged_contact_is_created_again() -> None:
    row = MappingEntry("a", None, None, RowState.INTENDED)
    result = plan([contact("a")], [row], GoogleFacts())
    assert result.creates == 1


def test_mass_delete_guard_blocks_until_confirmed() -> None:
    rows = [synced(f"c{i}") for i in range(200)]
    facts = GoogleFacts(
        inspected={r.resource_name or "": remote(r.resource_name or "", crm_id=r.crm_id) for r in rows}
    )
    keep = [contact(f"c{i}") for i in range(150)]
    result = plan(keep, rows, facts)
    assert result.blocked is Blocked.MASS_DELETE
    assert "50 of the 200" in shown_message(result.blocked_detail)

    confirmed = plan(keep, rows, facts, Limits(mass_delete_confirmed=True))
    assert confirmed.blocked is None
    assert confirmed.deletes == 50


def test_contact_limit_blocks_creates_past_25000() -> None:
    planned = plan([contact("a"), contact("b")], [], GoogleFacts())

    result = within_contact_limit(planned, 24_999)

    assert result.blocked is Blocked.CONTACT_LIMIT
    assert shown_message(result.blocked_detail) == (
        "the Google account holds 24999 contacts and this list needs 2 more;"
        " that would pass Google's limit of 25000 contacts per account by 1"
    )
    assert within_contact_limit(planned, 24_998).blocked is None


def test_deletes_of_the_same_run_make_room_for_its_creates() -> None:
    rows = [synced("gone")]
    facts = GoogleFacts(inspected={"people/gone": remote("people/gone", crm_id="gone")})
    planned = plan([contact("a")], rows, facts)
    assert (planned.creates, planned.deletes) == (1, 1)

    assert within_contact_limit(planned, 25_000).blocked is None
    refused = within_contact_limit(planned, 25_001)
    assert refused.blocked is Blocked.CONTACT_LIMIT
    assert "needs 1 more (and frees 1)" in shown_message(refused.blocked_detail)


def test_a_mass_delete_block_is_kept_over_the_contact_limit() -> None:
    mass = Plan(
        create_batches=((CreateOp("a", contact("a")),),),
        blocked=Blocked.MASS_DELETE,
        blocked_detail="confirm",
    )

    assert within_contact_limit(mass, 25_000) is mass


def test_membership_batches_hold_at_most_1000_names() -> None:
    rows = [synced(f"c{i}") for i in range(1500)]
    facts = GoogleFacts(
        inspected={
            r.resource_name or "": remote(r.resource_name or "", crm_id=r.crm_id, in_group=False)
            for r in rows
        }
    )
    result = plan([contact(f"c{i}") for i in range(1500)], rows, facts)
    assert [len(add) + len(remove) for add, remove in result.membership_batches] == [1000, 500]


# --- Properties over random worlds ---------------------------------------------------------


@dataclass
class GContact:
    crm_id: str | None
    """Tag of this sync, or None for the user's personal contacts."""
    name: str
    in_group: bool
    in_user_groups: bool


@dataclass
class World:
    google: dict[str, GContact] = field(default_factory=dict)
    rows: dict[str, MappingEntry] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))

    def new_rn(self) -> str:
        return f"people/n{next(self.counter)}"

    def facts(self) -> GoogleFacts:
        """What the executor learns: every mapped contact read, tagged strays inside the group."""
        mapped = {r.resource_name for r in self.rows.values() if r.resource_name}
        inspected = {rn: self.remote(rn) for rn in mapped if rn in self.google}
        strays: dict[str, list[RemoteContact]] = {}
        for rn, g in self.google.items():
            if g.crm_id is not None and g.in_group and rn not in mapped:
                strays.setdefault(g.crm_id, []).append(self.remote(rn))
        return GoogleFacts(inspected=inspected, missing=frozenset(mapped - set(self.google)), strays=strays)

    def remote(self, rn: str) -> RemoteContact:
        g = self.google[rn]
        return RemoteContact(
            rn, "e", contact(g.crm_id or "p", g.name).field_hash, g.in_group, g.in_user_groups
        )

    def apply(self, result: Plan, desired: dict[str, MappedContact]) -> None:
        for batch in result.create_batches:
            for op in batch:
                rn = self.new_rn()
                self.google[rn] = GContact(
                    op.crm_id, desired[op.crm_id].fields["names"][0]["givenName"], True, False
                )
                self.rows[op.crm_id] = MappingEntry(op.crm_id, rn, op.contact.field_hash, RowState.SYNCED)
        for adopt in result.adoptions:
            self.rows[adopt.crm_id] = MappingEntry(
                adopt.crm_id, adopt.remote.resource_name, adopt.remote.field_hash, RowState.SYNCED
            )
        for add, remove in result.membership_batches:
            for op in add:
                self.google[op.resource_name].in_group = True
            for op in remove:
                self.google[op.resource_name].in_group = False
        for batch in result.update_batches:
            for up in batch:
                self.google[up.resource_name].name = desired[up.crm_id].fields["names"][0]["givenName"]
                self.rows[up.crm_id] = replace(self.rows[up.crm_id], field_hash=up.contact.field_hash)
        for batch in result.delete_batches:
            for d in batch:
                del self.google[d.resource_name]
        for crm_id in result.forget:
            self.rows.pop(crm_id, None)


NAMES = st.sampled_from(["Ann", "Bob", "Олена"])


@st.composite
def worlds(draw: st.DrawFn) -> tuple[World, dict[str, MappedContact]]:
    world = World()
    desired: dict[str, MappedContact] = {}
    for i in range(draw(st.integers(0, 25))):
        crm_id = f"c{i}"
        if draw(st.booleans()):
            desired[crm_id] = contact(crm_id, draw(NAMES))
        kind = draw(st.sampled_from(["none", "intended", "synced", "stopped"]))
        if kind == "intended":
            world.rows[crm_id] = MappingEntry(crm_id, None, None, RowState.INTENDED)
        elif kind in {"synced", "stopped"}:
            rn = f"people/{crm_id}"
            name = draw(NAMES)
            world.rows[crm_id] = replace(synced(crm_id, name, rn), stop_syncing=kind == "stopped")
            if draw(st.integers(0, 4)) > 0:  # else: the user deleted it in Google
                world.google[rn] = GContact(
                    crm_id,
                    draw(NAMES),  # the user may have edited it
                    in_group=draw(st.integers(0, 4)) > 0,
                    in_user_groups=draw(st.booleans()),
                )
        # Contacts created by interrupted runs (applied, answer lost), possibly twice.
        if kind != "stopped":
            for _ in range(draw(st.integers(0, 2))):
                world.google[world.new_rn()] = GContact(crm_id, draw(NAMES), True, False)
    for j in range(draw(st.integers(0, 5))):
        world.google[f"people/personal{j}"] = GContact(None, "Personal", draw(st.booleans()), True)
    return world, desired


LOOSE = Limits(mass_delete_minimum=10**9)


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_one_plan_converges_and_a_second_plan_is_empty(case: tuple[World, dict[str, MappedContact]]) -> None:
    world, desired = case
    personal_before = {rn: g for rn, g in world.google.items() if g.crm_id is None}

    world.apply(plan(desired.values(), world.rows.values(), world.facts(), LOOSE), desired)
    again = plan(desired.values(), world.rows.values(), world.facts(), LOOSE)

    assert again.write_requests == 0
    assert not again.adoptions
    in_group = [g.crm_id for g in world.google.values() if g.crm_id is not None and g.in_group]
    stopped = {c for c, r in world.rows.items() if r.stop_syncing}
    assert sorted(c for c in in_group if c not in stopped) == sorted(c for c in desired if c not in stopped)
    for crm_id, data in desired.items():
        if crm_id not in stopped:
            (rn,) = [rn for rn, g in world.google.items() if g.crm_id == crm_id and g.in_group]
            assert world.google[rn].name == data.fields["names"][0]["givenName"]
            assert world.rows[crm_id].resource_name == rn
    assert {rn: g for rn, g in world.google.items() if g.crm_id is None} == personal_before


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_plan_never_touches_personal_contacts_nor_creates_twice(
    case: tuple[World, dict[str, MappedContact]],
) -> None:
    world, desired = case
    result = plan(desired.values(), world.rows.values(), world.facts(), LOOSE)

    personal = {rn for rn, g in world.google.items() if g.crm_id is None}
    touched = (
        {d.resource_name for b in result.delete_batches for d in b}
        | {u.resource_name for b in result.update_batches for u in b}
        | {m.resource_name for m in (*result.readd, *result.release)}
    )
    assert not touched & personal
    created = [c.crm_id for b in result.create_batches for c in b]
    adopted = [a.crm_id for a in result.adoptions]
    assert len(created + adopted) == len(set(created + adopted))
    assert all(len(b) <= CREATE_BATCH for b in result.create_batches)
    assert all(len(b) <= UPDATE_BATCH for b in result.update_batches)
    assert all(len(b) <= DELETE_BATCH for b in result.delete_batches)
    assert all(len(a) + len(r) <= MEMBERSHIP_BATCH for a, r in result.membership_batches)


@settings(max_examples=200, deadline=None)
@given(
    group=st.integers(0, 400),
    leaving_share=st.floats(0, 1),
    share=st.sampled_from([0.1, 0.2, 0.5]),
    minimum=st.sampled_from([0, 10, 50]),
)
def test_mass_delete_guard_matches_its_rule(
    group: int, leaving_share: float, share: float, minimum: int
) -> None:
    rows = [synced(f"c{i}") for i in range(group)]
    leaving = int(group * leaving_share)
    facts = GoogleFacts(
        inspected={r.resource_name or "": remote(r.resource_name or "", crm_id=r.crm_id) for r in rows}
    )
    result = plan(
        [contact(f"c{i}") for i in range(leaving, group)],
        rows,
        facts,
        Limits(mass_delete_share=share, mass_delete_minimum=minimum),
    )
    expected = leaving >= minimum and leaving > share * group
    assert (result.blocked is Blocked.MASS_DELETE) == expected


def test_contacts_to_write_counts_each_contact_once() -> None:
    # "a" is put back into the group and updated; "b" is new; "c" leaves; "d" is unchanged.
    facts = GoogleFacts(
        inspected={
            "people/a": remote("people/a", "Old", crm_id="a", in_group=False),
            "people/c": remote("people/c", crm_id="c"),
        }
    )
    result = plan(
        [contact("a", "New"), contact("b"), contact("d")], [synced("a"), synced("c"), synced("d")], facts
    )

    assert (len(result.readd), result.updates, result.creates, result.deletes) == (1, 1, 1, 1)
    assert result.contacts_to_write == 3
    assert plan([contact("d")], [synced("d")], GoogleFacts()).contacts_to_write == 0
