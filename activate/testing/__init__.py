"""Local simulators of the destinations' APIs and the conformance suite every destination passes."""
