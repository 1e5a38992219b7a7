#!/usr/bin/env bash
# Grade a class as a Slurm array job: one task per shard, each on a node of its own.
#
#   sbatch --array=1-20 deploy/slurm_grade.sh /shared/submissions.zip /shared/results
#   # when every task is done:
#   python -m autograder.merge /shared/results/shard-* --out /shared/results/all
#
# Each task runs the grading image (Dockerfile) with Apptainer/Singularity, or, where nodes have
# the course's .venv on a shared file system and give root to the job, the grader directly.
#SBATCH --job-name=grade
#SBATCH --cpus-per-task=2
#SBATCH --mem=12G
#SBATCH --time=04:00:00
set -euo pipefail
SUBMISSIONS=$1
RESULTS=$2
SHARD="${SLURM_ARRAY_TASK_ID}/${SLURM_ARRAY_TASK_COUNT}"
OUT="${RESULTS}/shard-${SLURM_ARRAY_TASK_ID}"
if command -v apptainer >/dev/null; then
    # an image converted from the Docker one: apptainer build grader.sif docker-daemon://course-grader:latest
    apptainer run --fakeroot --net --network none --bind "${SUBMISSIONS}:/in:ro,${RESULTS}:/results" \
        grader.sif /in --out "/results/shard-${SLURM_ARRAY_TASK_ID}" --shard "${SHARD}" --workers "${SLURM_CPUS_PER_TASK}"
else
    .venv/bin/python -m autograder.grade "${SUBMISSIONS}" --out "${OUT}" --shard "${SHARD}" \
        --workers "${SLURM_CPUS_PER_TASK}"
fi
