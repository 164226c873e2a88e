"""The DynamoDB idempotency store on a real moto server, with an injected clock."""

from __future__ import annotations

import pytest
from labelloop import AlreadyInProgressError, AwsClients, Claim, IdempotencyStore, StackNames
from labelloop.clock import ManualClock
from labelloop.provision import ProvisionedStack

pytestmark = pytest.mark.integration


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_800_000_000.0)


@pytest.fixture
def store(aws: AwsClients, stack: ProvisionedStack, names: StackNames, clock: ManualClock) -> IdempotencyStore:
    return IdempotencyStore(aws.dynamodb, names.physical("idempotency"), ttl_s=3600, lease_s=60, clock=clock)


def test_first_claim_wins_and_a_concurrent_one_is_told_to_wait(store: IdempotencyStore) -> None:
    """One conditional put: the first claimer gets NEW, a second one while it runs is refused."""
    assert store.claim("svc#e1") is Claim.NEW
    with pytest.raises(AlreadyInProgressError, match="svc#e1"):
        store.claim("svc#e1")


def test_completed_ids_are_reported_until_they_expire(store: IdempotencyStore, clock: ManualClock) -> None:
    """After completion, claims say ALREADY_COMPLETED; after the TTL the id is new again."""
    store.claim("svc#e2")
    store.complete("svc#e2")
    clock.advance(3599)
    assert store.claim("svc#e2") is Claim.ALREADY_COMPLETED
    clock.advance(2)
    assert store.claim("svc#e2") is Claim.NEW


def test_a_dead_workers_claim_can_be_taken_after_its_lease(store: IdempotencyStore, clock: ManualClock) -> None:
    """An INPROGRESS record whose lease passed (worker crashed) no longer blocks the event."""
    store.claim("svc#e3")
    clock.advance(61)
    assert store.claim("svc#e3") is Claim.NEW


def test_a_live_workers_renewed_lease_keeps_blocking_and_a_completion_is_not_renewed(
    store: IdempotencyStore, clock: ManualClock
) -> None:
    """The heartbeat renews a running handler's lease, so a short lease never frees a live claim;
    renewing a completed record changes nothing."""
    store.claim("svc#e5")
    clock.advance(50)
    store.renew("svc#e5")
    clock.advance(50)  # 100 s after the claim, 50 s after the renewal
    with pytest.raises(AlreadyInProgressError):
        store.claim("svc#e5")
    clock.advance(11)
    assert store.claim("svc#e5") is Claim.NEW
    store.complete("svc#e5")
    store.renew("svc#e5")
    assert store.claim("svc#e5") is Claim.ALREADY_COMPLETED


def test_release_frees_an_in_progress_claim_but_never_a_completed_one(store: IdempotencyStore) -> None:
    """release() undoes a failed attempt; on a completed record it changes nothing."""
    store.claim("svc#e4")
    store.release("svc#e4")
    assert store.claim("svc#e4") is Claim.NEW
    store.complete("svc#e4")
    store.release("svc#e4")
    assert store.claim("svc#e4") is Claim.ALREADY_COMPLETED
