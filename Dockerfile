# preemptive-scheduler: the scheduler daemon (`preemptive-scheduler run`).
# Build:  docker build -t <registry>/preemptive-scheduler:<tag> .
# (deploy.sh does this for you.)
FROM python:3.11-slim

# No .pyc files (the root filesystem is read-only at run time), unbuffered logs,
# no pip chatter.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Install from the package metadata (pyproject.toml; setup.py is a shim), then drop the sources.
# scheduler/testing (the stand-in kube-apiserver) is a test utility: .dockerignore
# keeps it out of the build context, and the build fails if it got in anyway.
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY scheduler ./scheduler
RUN pip install --no-cache-dir . \
    && cd / && rm -rf /src \
    && preemptive-scheduler --help >/dev/null \
    && ! python -c "import scheduler.testing" 2>/dev/null

# Non-root, numeric so `runAsNonRoot` can verify it. HOME points at /tmp,
# which the Deployment mounts as a small emptyDir.
USER 65532:65532
ENV HOME=/tmp
WORKDIR /

# /metrics, /healthz, /readyz
EXPOSE 10260

ENTRYPOINT ["preemptive-scheduler", "run"]
