"""Stand-ins of our own for the outside services the system talks to (Amazon's Selling Partner API), for
tests and the demo: same paths, same documents, same refusals, seeded by the test."""
