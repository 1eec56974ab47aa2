"""Where steps run when the deployment outgrows one machine (deploy/k8s/values.yaml).

On one machine (compose, ``make demo``, tests) nothing here changes anything: the default
multiprocess executor ignores these tags. With ``POLYMATH_EXECUTOR=k8s`` every step runs
as its own Kubernetes Job (dagster-k8s's ``k8s_job_executor``), and the steps that load the
embedding model ask for one GPU and tolerate the taint GPU nodes carry, so only they land
on (and pay for) a GPU node. The settle run (``settle_shards``) carries the same request as a
run tag: it executes every ready shard's chain, model included, in its own pod (the run
launcher's). The pools still hold: ``gpu`` and ``graph`` run one step at
a time across all runs, whichever pods they run in.
"""

from __future__ import annotations

from polymath_assets.config import Config, ConfigError

K8S_CONFIG_TAG = "dagster-k8s/config"

# The steps that load the embedding model: passage_embeddings (BGE-M3 over the passages)
# and canonical_concepts (the same encoder over concept names).
GPU_STEP_TAGS = {
    K8S_CONFIG_TAG: {
        "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
        "pod_spec_config": {"tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                             "effect": "NoSchedule"}]},
    }
}


def executor_for(config: Config):
    """The executor of every job: None (Dagster's multiprocess default) or dagster-k8s's."""
    if config.executor != "k8s":
        return None
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError:
        raise ConfigError("POLYMATH_EXECUTOR=k8s needs dagster-k8s: install polymath_assets[k8s] "
                          "(the image does)") from None
    return k8s_job_executor
