"""Whether a People request is served at all: per-minute quotas, seeded fault plans and the
strict-sequential check. Views ask here before they touch contacts or groups."""

from __future__ import annotations

import random
from collections import deque

from app.google.limits import Cost
from groupsync_emulator.errors import GoogleApiError
from groupsync_emulator.people_records import FaultDecision, FaultPlan, _PlanRuntime
from groupsync_emulator.people_store import PeopleStore


class LimitsMixin(PeopleStore):
    def charge(self, sub: str, cost: Cost, now: float) -> None:
        """Count a request against its buckets, or refuse it when any bucket is full for this minute."""
        account = self.accounts.get(sub)
        quotas = (
            account.quotas if account is not None and account.quotas is not None else self.settings.quotas
        )
        for bucket, units in cost.items():
            limit = quotas.limit(bucket)
            if limit is None:
                continue
            window = self._usage.setdefault((sub, bucket), deque())
            while window and window[0][0] <= now - 60:
                window.popleft()
            if sum(u for _, u in window) + units > limit:
                raise GoogleApiError(
                    429,
                    "RESOURCE_EXHAUSTED",
                    f"Quota exceeded for quota metric '{bucket.metric}' and limit "
                    f"'{bucket.value} per minute per user' of service 'people.googleapis.com'.",
                    reason="RATE_LIMIT_EXCEEDED",
                    metadata={
                        "quota_metric": bucket.metric,
                        "quota_limit": f"{bucket.value}_per_minute_per_user",
                        "quota_limit_value": str(limit),
                        "quota_location": "global",
                        "service": "people.googleapis.com",
                    },
                )
        for bucket, units in cost.items():
            if quotas.limit(bucket) is not None:
                self._usage[(sub, bucket)].append((now, units))

    def configure_faults(self, sub: str | None, plan: FaultPlan | None, now: float) -> None:
        """Install a plan for one account (or, with ``sub=None``, for every account without its own)."""
        if sub is None:
            self.global_faults = plan
        else:
            self.account(sub, now).faults = plan
        self._fault_runtime.pop(sub, None)

    def _plan_for(self, sub: str) -> tuple[str | None, FaultPlan | None]:
        account = self.accounts.get(sub)
        if account is not None and account.faults is not None:
            return sub, account.faults
        if self.global_faults is not None:
            return None, self.global_faults
        return None, self.settings.faults

    def draw_faults(self, sub: str, method: str, mutation: bool) -> FaultDecision:
        key, plan = self._plan_for(sub)
        decision = FaultDecision()
        if plan is None or (plan.methods and method not in plan.methods):
            return decision
        runtime = self._fault_runtime.get(key)
        if runtime is None or runtime.plan is not plan:
            runtime = self._fault_runtime[key] = _PlanRuntime(plan, random.Random(plan.seed))
        rng = runtime.rng
        decision.delay_seconds = plan.latency_ms / 1000
        if plan.times is not None and runtime.fired >= plan.times:
            return decision
        # One draw per kind on every request, so a seed replays the same sequence of outcomes.
        slow, error, drop, after = rng.random(), rng.random(), rng.random(), rng.random()
        if slow < plan.slow_rate:
            decision.delay_seconds += plan.slow_ms / 1000
        if drop < plan.drop_rate:
            decision.before = "drop"
        elif error < plan.error_rate:
            decision.before = str(plan.error_code)
        elif mutation and after < plan.after_apply_rate:
            decision.after_apply = plan.after_apply
        if slow < plan.slow_rate or decision.before or decision.after_apply:
            runtime.fired += 1
        return decision

    def strict_for(self, sub: str) -> bool:
        account = self.accounts.get(sub)
        if account is not None and account.strict_sequential is not None:
            return account.strict_sequential
        return self.settings.strict_sequential

    def begin_mutation(self, sub: str) -> None:
        if sub in self._in_flight:
            raise GoogleApiError(
                409,
                "ABORTED",
                "The operation was aborted: another mutation for this user is still in progress. "
                "Mutate requests for the same user should be sent sequentially.",
            )
        self._in_flight.add(sub)

    def end_mutation(self, sub: str) -> None:
        self._in_flight.discard(sub)
