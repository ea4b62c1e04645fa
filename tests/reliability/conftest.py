"""The reliability suite (issue #8): fuzzing, a state machine, injected faults, bad input and a soak."""

from hypothesis import settings

from tests.reliability.profile import PROFILE  # noqa: F401 (registers the hypothesis profile)

settings.load_profile("aiadmin")
