"""TFLite metadata written without tflite-support, read back by the real clients."""

from __future__ import annotations

import json

import numpy as np
import pytest
from live_models import check_input_dependence, swap_channels

from mhzoo.export import to_tflite
from mhzoo.export.metadata import LABELS_FILE, read_associated_files, read_metadata


@pytest.fixture(scope="module")
def mediapipe_export(tmp_path_factory, calib_dir, labels_file, calibrate_weights):
    import mhzoo

    model = mhzoo.build("multi_max", num_classes=5)
    calibrate_weights(model, seed=3)
    out = tmp_path_factory.mktemp("mp") / "multi_max_int8.tflite"
    return to_tflite(model, out, quant="int8_full", representative_data=calib_dir,
                     calibration_steps=6, labels=labels_file, fidelity_images=2)


def test_mediapipe_image_classifier_reads_labels(mediapipe_export, photos, labels_file):
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    from mhzoo.export.fidelity import run_tflite
    from mhzoo.export.representative import representative_array

    names = labels_file.read_text().split()
    # chelsea the cat, already at the model's 224x224 so MediaPipe feeds these exact pixels
    pixels = np.round(representative_array(photos[1], (224, 224, 3), 1)[0]).astype(np.uint8)
    opts = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=str(mediapipe_export.path)), max_results=5)
    with vision.ImageClassifier.create_from_options(opts) as clf:
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(pixels))
        result = clf.classify(image)
    cats = result.classifications[0].categories
    assert len(cats) == 5
    assert {c.category_name for c in cats} == set(names)
    for c in cats:  # each name is the label of its own class index
        assert c.category_name == names[c.index], (c.index, c.category_name)
    assert all(0.0 <= c.score <= 1.0 for c in cats)
    # MediaPipe's top-1 is LiteRT's argmax on the same image, with the same score
    scores = run_tflite(mediapipe_export.path.read_bytes(), pixels[None].astype(np.float32))[0]
    best = np.flatnonzero(scores == scores.max())
    assert cats[0].index in best, (cats[0].index, scores)
    if len(best) == 1:
        assert cats[0].index == int(np.argmax(scores))
    assert cats[0].score == pytest.approx(float(scores.max()), abs=1e-6)
    by_index = {c.index: c.score for c in cats}
    np.testing.assert_allclose([by_index[i] for i in range(5)], scores, atol=1e-6)


def test_metadata_parsed_by_the_reference_schema(mediapipe_export, labels_file):
    """The flatbuffer matches metadata_schema.fbs: parse it with the generated reader that
    ships in the mediapipe wheel (independent of our reader)."""
    from ai_edge_litert import schema_py_generated as S
    from mediapipe.tasks.metadata import metadata_schema_py_generated as M

    data = mediapipe_export.path.read_bytes()
    model = S.Model.GetRootAsModel(data, 0)
    entries = {model.Metadata(i).Name().decode(): model.Metadata(i).Buffer()
               for i in range(model.MetadataLength())}
    buf = model.Buffers(entries["TFLITE_METADATA"]).DataAsNumpy().tobytes()
    assert M.ModelMetadata.ModelMetadataBufferHasIdentifier(buf, 0)
    md = M.ModelMetadata.GetRootAsModelMetadata(buf, 0)
    assert md.Name() == b"multi_max" and md.MinParserVersion() == b"1.0.0"
    sub = md.SubgraphMetadata(0)
    tin = sub.InputTensorMetadata(0)
    assert tin.Content().ContentPropertiesType() == M.ContentProperties.ImageProperties
    props = M.ImageProperties()
    props.Init(tin.Content().ContentProperties().Bytes, tin.Content().ContentProperties().Pos)
    assert props.ColorSpace() == M.ColorSpaceType.RGB
    assert props.DefaultSize().Width() == 224 and props.DefaultSize().Height() == 224
    unit = tin.ProcessUnits(0)
    assert unit.OptionsType() == M.ProcessUnitOptions.NormalizationOptions
    norm = M.NormalizationOptions()
    norm.Init(unit.Options().Bytes, unit.Options().Pos)
    assert norm.MeanAsNumpy().tolist() == [0.0] and norm.StdAsNumpy().tolist() == [1.0]
    assert tin.Stats().MinAsNumpy().tolist() == [0.0]
    assert tin.Stats().MaxAsNumpy().tolist() == [255.0]
    f = sub.OutputTensorMetadata(0).AssociatedFiles(0)
    assert f.Name() == b"labels.txt" and f.Type() == M.AssociatedFileType.TENSOR_AXIS_LABELS
    files = read_associated_files(data)
    assert files[LABELS_FILE].decode().split() == labels_file.read_text().split()
    info = json.loads(files["mhzoo_export.json"])
    assert info["quant"] == "int8_full" and info["preprocessing_inside"]["mean"] == [127.5]


def test_our_reader_round_trip(mediapipe_export):
    md = read_metadata(mediapipe_export.path.read_bytes())
    tin = md["subgraphs"][0]["inputs"][0]
    assert tin["color_space"] == "RGB" and tin["normalization"] == {"mean": [0.0], "std": [1.0]}
    assert md["subgraphs"][0]["outputs"][0]["name"] == "probability"
    assert "multi_max" in md["description"]


def strip_metadata(model: bytes) -> bytes:
    """``model`` as the converter wrote it: the flatbuffer re-packed without its metadata
    entries and buffers, and without the zip of associated files appended to it."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as S

    obj = S.ModelT.InitFromPackedBuf(bytearray(model), 0)
    for entry in obj.metadata or []:
        obj.buffers[entry.buffer].data = None
    obj.metadata = None
    b = flatbuffers.Builder(len(model))
    b.Finish(obj.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _outputs_with_and_without_metadata(mediapipe_export, photos):
    from mhzoo.export.fidelity import run_tflite
    from mhzoo.export.representative import representative_array

    data = mediapipe_export.path.read_bytes()
    bare = strip_metadata(data)
    assert read_metadata(bare) is None and not read_associated_files(bare)
    assert read_metadata(data) is not None and len(bare) < len(data)
    images = representative_array(photos, (224, 224, 3), 3)
    return run_tflite(data, images), run_tflite(bare, images), images, bare


def test_metadata_does_not_change_the_model(mediapipe_export, photos):
    """The interpreter ignores the metadata and the appended zip: the same outputs, bit for
    bit, as the model without them, on photographs whose outputs differ."""
    with_md, bare_out, _, _ = _outputs_with_and_without_metadata(mediapipe_export, photos)
    assert with_md.shape == (3, 5) and np.allclose(with_md.sum(1), 1.0, atol=0.05)
    np.testing.assert_array_equal(with_md, bare_out)
    step = 1 / 255  # one step of the uint8 probability output
    for i, j in ((0, 1), (0, 2), (1, 2)):
        check_input_dependence(bare_out[i], bare_out[j], step, what=f"photos {i} and {j}")


def test_other_input_fails_the_same_outputs_check(mediapipe_export, photos):
    """A test for the test: the model without metadata fed BGR photographs does not give the
    outputs of the exported model (so the bit-for-bit check above can fail)."""
    from mhzoo.export.fidelity import run_tflite

    with_md, _, images, bare = _outputs_with_and_without_metadata(mediapipe_export, photos)
    assert not np.array_equal(with_md, run_tflite(bare, swap_channels(images)))


def test_fidelity_json_next_to_model(mediapipe_export):
    p = mediapipe_export.fidelity_path
    assert p.parent == mediapipe_export.path.parent and p.name == "multi_max_int8.fidelity.json"
    saved = json.loads(p.read_text())
    assert saved == mediapipe_export.fidelity.to_dict()
    assert saved["mode"] == "int8_full" and 0.0 <= saved["top1_agreement"] <= 1.0
    assert saved["num_images"] == 2 and saved["images"] == "calibration"


def test_fidelity_flags_ambiguous_top1():
    """Near-uniform outputs (untrained weights) get their top-1 agreement qualified."""
    import numpy as np

    from mhzoo.export.fidelity import compare

    ref = np.array([[0.50, 0.49, 0.01], [0.9, 0.05, 0.05]])
    got = np.array([[0.49, 0.50, 0.01], [0.9, 0.05, 0.05]])
    rep = compare(ref, got, mode="int8_full", output_kind="probabilities", images="test")
    assert rep.top1_agreement == 0.5
    assert rep.ambiguous_top1 == 1
    assert "1 of 2 image(s)" in rep.format()
    clean = compare(ref[1:], got[1:], mode="int8_full", output_kind="probabilities",
                    images="test")
    assert clean.ambiguous_top1 == 0 and "margin" not in clean.format()
