"""Champollion on the web: each regional office's lists, establishments and control outcomes, behind a login.

`champollion serve` runs `web.app.create_app` under uvicorn. The application reads the home's lists,
feature tables, warehouse and registry (through `web.project`, its only door into the other packages,
none of which imports `web`) and writes its own database (users, control outcomes, sign-ins, the log
of who opened which establishment), whose current outcomes it publishes to the inspections store.
"""
