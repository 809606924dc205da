"""The browser UI, `quivo-bulk ui`: an aiohttp application on loopback (docs/guide/operations.md).

A thin layer over the same library the CLI calls: `drafts` reads, checks and
edits an uploaded file (pipeline.inputs, pipeline.plan.prepare), `tasks`
runs, resumes and reruns in a worker thread (pipeline.flows.run,
pipeline.flows.resume), `history` lists the run directories, `security` holds
the token, Host and CSRF checks, `app` wires the pages. Templates and static
files ship inside the package; no JavaScript is fetched from anywhere.

May import: pipeline.core, pipeline.config, pipeline.inputs, pipeline.plan,
pipeline.store, pipeline.flows, pipeline.reports. Nothing imports pipeline.ui but the CLI.

    app = create_app(UiConfig(runs_dir=Path("runs"), token=new_token()), env=Environment())
"""
