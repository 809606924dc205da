"""The browser UI, `quivo-bulk ui`: an aiohttp application on loopback (docs/guide/operations.md).

A thin layer over the same library the CLI calls: `drafts` reads, checks and
edits an uploaded file (pipeline.inputs, pipeline.run.prepare), `tasks`
runs, resumes and reruns in a worker thread (pipeline.run.runner,
pipeline.run.durable), `history` lists the run directories, `security` holds
the token, Host and CSRF checks, `app` wires the pages. Templates and static
files ship inside the package; no JavaScript is fetched from anywhere.

May import: pipeline.inputs, pipeline.run, pipeline.reports, pipeline.settings,
pipeline.errors, pipeline.outcomes. Nothing imports pipeline.ui but the CLI.

    app = create_app(UiConfig(runs_dir=Path("runs"), token=new_token()), env=Environment())
"""
