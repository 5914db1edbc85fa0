"""The demo, apart from the product: sample landing data and the governance tour of `foundation demo`.

Product code never imports this package; only the demo's entry points do (`foundation demo` and
`foundation generate` in cli.py, `python -m dagster_project.demo.sample_data`), and tests and benchmarks
that need sample files. tests/test_demo_apart.py holds that line.
"""
