"""The Quivo API seen from the client: transport, auth, retries, pacing (SPEC §2, §5).

`client` sends one call with its retries, `auth` keeps the token, `retry` holds
the backoff and Retry-After rules, `pacing` and `throttle` the rate, `payloads`
the request bodies. May import `pipeline.errors`, `pipeline.outcomes`,
`pipeline.settings`; nothing from `inputs`, `run`, `reports` or `cli`.
"""
