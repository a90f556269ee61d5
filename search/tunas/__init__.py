"""mhzoo.search.tunas: the TuNAS search (search-algorithm.md sections 2-5).

* :mod:`.config` — :class:`SearchConfig`, presets ``cpu-proxy`` / ``imagenet-tpu``, the reward
  name (:func:`parse_reward`); pure Python.
* :mod:`.request` — :class:`SearchRequest` (checked once) and :func:`prepare_search`.
* :mod:`.controller` — the REINFORCE controller; :mod:`.rewards` — eq. 6-8 in-graph.
* :mod:`.supernet` — the plan of a space and the masked weight-sharing supernet.
* :mod:`.ingraph` — the deployment cost of sampled masks; :mod:`.step` — the compiled step.
* :mod:`.loop` — :func:`run_search` into a resumable run folder; :mod:`.plots` — pictures
  (probabilities, architecture, convergence).
* :mod:`.convergence` — the ``converged`` verdict and its diagnostics (numpy);
  :mod:`.latency_only` — the latency-only check of a preset's controller settings.

Modules that need TensorFlow import it at module level; import them by full path.
"""
