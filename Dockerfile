# The grading environment as a container image: the course (solutions and hidden checks included:
# keep the image private), its Python environment, and bubblewrap for the grading sandbox.
#
#   docker build -t course-grader .
#   docker run --rm --network none --privileged \
#       -v "$PWD/submissions:/in:ro" -v "$PWD/results:/out" course-grader /in --out /out [--shard K/N]
#
# --network none: nothing leaves the container while it grades. --privileged: bubblewrap makes the
# sandbox's namespaces and the grader switches to throw-away uids, which a default container may
# not (instead of --privileged: --cap-add SYS_ADMIN --security-opt seccomp=unconfined
# --security-opt apparmor=unconfined). python -m autograder.pipeline.slurm submits a Slurm array job; deploy/ has a Kubernetes indexed Job.
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap util-linux git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /course
# torch first, the CPU build of its pin (the range in pyproject.toml then installs nothing more)
COPY requirements-torch.txt ./
RUN pip install --no-cache-dir -r requirements-torch.txt --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY course_lib ./course_lib
RUN pip install --no-cache-dir -e ".[instructor]"
COPY autograder ./autograder
COPY solutions ./solutions
COPY notebooks ./notebooks

ENV PYTHONPATH=/course MPLBACKEND=Agg
ENTRYPOINT ["python", "-m", "autograder.grade"]
