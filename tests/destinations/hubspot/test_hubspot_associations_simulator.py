"""The simulator's CRM v4 association batch endpoints through the real hubspot-api-client (typed models, client-side
validation on): create with a type, associate default, archive, read, both directions, 207 per-input errors."""

from __future__ import annotations

from typing import Any

from hubspot import HubSpot
from hubspot.crm import contacts
from hubspot.crm.associations import v4

from activate.testing.hubspot import HubSpotSimulator


def sdk(sim: HubSpotSimulator) -> Any:
    return HubSpot(access_token=sim.token, host=sim.url, retry=False, client_side_validation=True)


def make(sim: HubSpotSimulator, kind: str, count: int) -> list[str]:
    """Records created straight in the portal (the v3 endpoints have their own tests)."""
    store = sim.crm.store(sim.schema.resolve(kind))  # type: ignore[arg-type]
    return [store.create({}, sim.clock.now()).id for _ in range(count)]


def pair(from_id: str, to_id: str, type_id: int | None = None) -> Any:
    if type_id is None:
        return v4.PublicDefaultAssociationMultiPost(_from=v4.PublicObjectId(id=from_id), to=v4.PublicObjectId(id=to_id))
    return v4.PublicAssociationMultiPost(
        _from=v4.PublicObjectId(id=from_id),
        to=v4.PublicObjectId(id=to_id),
        types=[v4.AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)],
    )


def test_create_read_archive_both_directions(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    [ada, bob] = make(sim, "contacts", 2)
    [acme] = make(sim, "companies", 1)
    batch = client.crm.associations.v4.batch_api

    created = batch.create(
        "contacts", "companies", v4.BatchInputPublicAssociationMultiPost(inputs=[pair(ada, acme, 279)])
    )
    assert isinstance(created, v4.BatchResponseLabelsBetweenObjectPair)
    [result] = created.results
    assert (result.from_object_id, result.to_object_id, result.to_object_type_id) == (ada, acme, "0-2")

    default = batch.create_default(
        "contact", "company", v4.BatchInputPublicDefaultAssociationMultiPost(inputs=[pair(bob, acme)])
    )
    assert default.results[0].association_spec.association_type_id == 279
    assert sim.linked("contacts", ada, "companies") == {acme: {279}}
    assert sim.linked("companies", acme, "contacts") == {ada: {280}, bob: {280}}

    read = batch.get_page(
        "companies",
        "contacts",
        v4.BatchInputPublicFetchAssociationsBatchRequest(inputs=[v4.PublicFetchAssociationsBatchRequest(id=acme)]),
    )
    assert sorted(t.to_object_id for t in read.results[0].to) == sorted([ada, bob])

    batch.archive(
        "companies",
        "contacts",
        v4.BatchInputPublicAssociationMultiArchive(
            inputs=[v4.PublicAssociationMultiArchive(_from=v4.PublicObjectId(id=acme), to=[v4.PublicObjectId(id=ada)])]
        ),
    )
    assert sim.linked("contacts", ada, "companies") == {}
    assert sim.linked("contacts", bob, "companies") == {acme: {279}}
    assert sim.association_calls == 4


def test_primary_brings_unlabeled_and_unknown_ids_are_per_input_errors(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    [ada] = make(sim, "contacts", 1)
    [acme] = make(sim, "companies", 1)
    batch = client.crm.associations.v4.batch_api
    body = v4.BatchInputPublicAssociationMultiPost(inputs=[pair(ada, acme, 1), pair(ada, "999999", 279)])
    reply = batch.create("contacts", "companies", body)
    assert isinstance(reply, v4.BatchResponseLabelsBetweenObjectPairWithErrors)
    assert reply.num_errors == 1
    assert reply.errors[0].context == {"toObjectId": ["999999"]}
    assert reply.results[0].labels == ["Primary"]
    assert sim.linked("contacts", ada, "companies") == {acme: {1, 279}}

    wrong_type = batch.create(
        "contacts", "companies", v4.BatchInputPublicAssociationMultiPost(inputs=[pair(ada, acme, 341)])
    )
    assert wrong_type.errors[0].category == "VALIDATION_ERROR"


def test_archiving_a_record_drops_its_links(sim: HubSpotSimulator) -> None:
    client = sdk(sim)
    [ada] = make(sim, "contacts", 1)
    [acme] = make(sim, "companies", 1)
    client.crm.associations.v4.batch_api.create(
        "contacts",
        "companies",
        v4.BatchInputPublicAssociationMultiPost(inputs=[pair(ada, acme, 279)]),
    )
    client.crm.contacts.batch_api.archive(
        contacts.BatchInputSimplePublicObjectId(inputs=[contacts.SimplePublicObjectId(id=ada)])
    )
    assert sim.linked("companies", acme, "contacts") == {}
