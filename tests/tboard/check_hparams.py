"""Reads the HParams plugin data a TensorBoardSink wrote, with TensorBoard's own accumulator and the
hparams plugin's own parsers, and compares it with what the test gave set_hparams().

usage: check_hparams.py LOG_DIR EXPECTED_JSON    (exit 0: as expected; else what differs)
"""
import json
import sys

from tensorboard.backend.event_processing import plugin_event_accumulator
from tensorboard.plugins.hparams import api_pb2, metadata


def main():
    log_dir, expected_path = sys.argv[1], sys.argv[2]
    with open(expected_path) as f:
        expected = json.load(f)
    acc = plugin_event_accumulator.EventAccumulator(log_dir)
    acc.Reload()
    content = acc.PluginTagToContent(metadata.PLUGIN_NAME)
    problems = []
    for tag in (metadata.EXPERIMENT_TAG, metadata.SESSION_START_INFO_TAG, metadata.SESSION_END_INFO_TAG):
        if tag not in content:
            problems.append(f"no {tag} (plugin tags: {sorted(content)})")
    if problems:
        sys.exit("; ".join(problems))

    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    want_types = {k: ("DATA_TYPE_BOOL" if isinstance(v, bool) else "DATA_TYPE_STRING" if isinstance(v, str)
                      else "DATA_TYPE_FLOAT64") for k, v in expected["hparams"].items()}
    got_types = {i.name: api_pb2.DataType.Name(i.type) for i in experiment.hparam_infos}
    if got_types != want_types:
        problems.append(f"experiment hparam types {got_types} != {want_types}")
    got_metrics = [m.name.tag for m in experiment.metric_infos]
    if got_metrics != expected["metrics"]:
        problems.append(f"experiment metrics {got_metrics} != {expected['metrics']}")

    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    got_values = {}
    for name, value in start.hparams.items():
        kind = value.WhichOneof("kind")
        got_values[name] = getattr(value, kind)
    if got_values != expected["hparams"] or any(type(got_values[k]) is not type(v) and not
                                                (isinstance(v, int) and isinstance(got_values[k], float))
                                                for k, v in expected["hparams"].items()):
        problems.append(f"session hparams {got_values} != {expected['hparams']}")
    if start.group_name != expected.get("group", ""):
        problems.append(f"group {start.group_name!r} != {expected.get('group', '')!r}")

    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    if api_pb2.Status.Name(end.status) != "STATUS_SUCCESS":
        problems.append(f"session end status {api_pb2.Status.Name(end.status)}")

    # The monitored metric is a scalar of the same run, which is what the HParams tab joins on.
    for tag in expected["metrics"]:
        if tag not in acc.Tags().get("tensors", []):
            problems.append(f"metric {tag} not among the run's scalar tags {acc.Tags().get('tensors')}")
    if problems:
        sys.exit("\n".join(problems))
    print(f"[check_hparams] experiment, session start and end as given: {sorted(got_values)}")


if __name__ == "__main__":
    main()
