"""The Quivo API seen from the client: transport, auth, retries, pacing (docs/api.md,
docs/design/sending.md).

`profile` holds every assumption about the API (paths, headers, auth scheme,
token field, which read verifies); `doctor` checks those assumptions read-only;
`client` composes the pieces and holds the one retry loop; `transport` sends
bytes over one aiohttp session; `retry` says which failures are retried and how
long to wait (backoff, Retry-After); `auth` keeps the token; `pacing` paces every
attempt; `accounting` feeds each answer to `health` (is the API usable?) and
`throttle` (the adaptive rate); `answers` holds the `Answer` and its error code;
`payloads` the request bodies. May import `pipeline.core.errors`, `pipeline.core.outcomes`,
`pipeline.config.settings`; nothing from `inputs`, `run`, `reports` or `cli`.
"""
