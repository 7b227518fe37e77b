"""Write the committed TF1 ALBERT fixtures with real TensorFlow; CI never runs this script.

The exporter must read what TensorFlow writes without TensorFlow, so the fixtures are made by
TensorFlow itself: ``tf.compat.v1.train.Saver`` over variables named exactly as
google-research/albert's ``modeling.py`` names them (plus BioBERT's NER head, Adam slots and
``global_step``), and the expected logits by a TensorFlow forward pass written here from
``modeling.py``'s equations, independent of biotag's converter. TF 2.x never writes Snappy
index blocks (TF 1.15 did: the BioALBERT releases), so one index is rewritten here with Snappy
blocks and TensorFlow's own reader checks the rewrite.

Run in a separate venv (never the project's):
    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu==2.21.0 numpy sentencepiece
    /tmp/tfvenv/bin/python tests/export/tf1/make_fixtures.py
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import sentencepiece as spm
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.export.tf1.albert_reference import encode_pieces, preprocess
from tests.export.tf1.bundle_writer import snappy_index

tf1 = tf.compat.v1
tf1.disable_eager_execution()

FIXTURES = Path(__file__).with_name("fixtures")
ABSTRACTS = Path(__file__).resolve().parents[4] / "shared/data/bioner/ncbi-disease/abstracts"
BIOBERT_LABELS = ["[PAD]", "B", "I", "O", "X", "[CLS]", "[SEP]"]
# ALBERT's spm_train flags (google-research/albert README), at a fixture-sized vocabulary
USER_SYMBOLS = ["(", ")", '"', "-", ".", "–", "£", "€"]
PARITY_TEXTS = [
    "Cisplatin-induced nephrotoxicity was reduced in mice lacking the p53 gene.",
    "Germline mutations in BRCA1 (17q21) predispose to breast and ovarian cancer.",
    "Ménière’s disease affects 1,200 patients — roughly 0.2% — in Zürich.",
    "The APC gene is mutated in familial adenomatous polyposis.",
]


def train_spm() -> spm.SentencePieceProcessor:
    lines = []
    for name in ("train.pubtator", "devel.pubtator"):
        for line in (ABSTRACTS / name).read_text().splitlines():
            parts = line.split("|", 2)
            if len(parts) == 3 and parts[1] in ("t", "a"):
                lines.append(preprocess(parts[2]))
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=1000,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        eos_id=-1,
        bos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"],
        user_defined_symbols=USER_SYMBOLS,
        shuffle_input_sentence=True,
        minloglevel=2,
    )
    (FIXTURES / "spm").mkdir(parents=True, exist_ok=True)
    (FIXTURES / "spm/30k-clean.model").write_bytes(model.getvalue())
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


class Weights:
    """google-research names -> variables, values drawn large enough that logits differ."""

    def __init__(self, seed: int, dtype: tf.DType, adam: bool, devices: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.dtype, self.adam, self.devices, self.count = dtype, adam, devices, 0
        self.made: dict[str, tf.Tensor] = {}  # layers of one group share their variables
        self.values: list[tuple[tf.Variable, np.ndarray]] = []

    def load(self, session: tf1.Session) -> None:
        for var, value in self.values:
            var.load(value.astype(np.float32).astype(var.dtype.as_numpy_dtype), session)

    def get(self, name: str, shape: list[int], kind: str = "w") -> tf.Tensor:
        if name in self.made:
            return self.made[name]
        if kind == "gamma":
            value = 1.0 + 0.1 * self.rng.standard_normal(shape)
        elif kind == "w":
            value = self.rng.standard_normal(shape) / np.sqrt(shape[0])
        else:  # biases, betas, embeddings
            value = 0.1 * self.rng.standard_normal(shape)
        with tf.device(f"/cpu:{self.count % self.devices}"):
            self.count += 1
            # zeros in the graph, values loaded into the session: keeps the .meta small
            var = tf1.get_variable(name, shape, self.dtype, tf1.zeros_initializer())
            self.values.append((var, value))
            if self.adam:
                for slot in ("adam_m", "adam_v"):
                    moment = tf1.get_variable(
                        f"{name}/{slot}",
                        shape,
                        self.dtype,
                        tf1.zeros_initializer(),
                        trainable=False,
                    )
                    self.values.append((moment, np.abs(self.rng.standard_normal(shape)) * 1e-3))
        self.made[name] = tf.cast(var, tf.float32)
        return self.made[name]


def layer_norm(w: Weights, x: tf.Tensor, scope: str) -> tf.Tensor:
    d = x.shape[-1]
    beta, gamma = w.get(f"{scope}/beta", [d], "b"), w.get(f"{scope}/gamma", [d], "gamma")
    mean, var = tf.nn.moments(x, [-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + 1e-12) * gamma + beta


def dense(w: Weights, x: tf.Tensor, scope: str, units: int) -> tf.Tensor:
    kernel = w.get(f"{scope}/kernel", [int(x.shape[-1]), units])
    return tf.tensordot(x, kernel, 1) + w.get(f"{scope}/bias", [units], "b")


def gelu(x: tf.Tensor) -> tf.Tensor:
    """ALBERT's "gelu": the tanh approximation."""
    return x * 0.5 * (1.0 + tf.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * tf.pow(x, 3))))


def albert(w: Weights, ids: tf.Tensor, cfg: dict) -> tuple[tf.Tensor, tf.Tensor]:
    """modeling.AlbertModel's forward pass (inference: no dropout), one unpadded sequence."""
    e_size, h_size, heads = cfg["embedding_size"], cfg["hidden_size"], cfg["num_attention_heads"]
    length = tf.shape(ids)[1]
    words = w.get("bert/embeddings/word_embeddings", [cfg["vocab_size"], e_size], "b")
    types = w.get("bert/embeddings/token_type_embeddings", [cfg["type_vocab_size"], e_size], "b")
    positions = w.get(
        "bert/embeddings/position_embeddings", [cfg["max_position_embeddings"], e_size], "b"
    )
    x = tf.gather(words, ids) + types[0] + positions[:length][None]
    x = layer_norm(w, x, "bert/embeddings/LayerNorm")
    if e_size != h_size:
        x = dense(w, x, "bert/encoder/embedding_hidden_mapping_in", h_size)
    size = h_size // heads
    layers, groups = cfg["num_hidden_layers"], cfg["num_hidden_groups"]
    if True:  # modeling.py: variable_scope("transformer", reuse=AUTO_REUSE)
        for layer in range(layers):
            group = int(layer / layers * groups)
            for inner in range(cfg["inner_group_num"]):
                s = f"bert/encoder/transformer/group_{group}/inner_group_{inner}"

                def split(t: tf.Tensor) -> tf.Tensor:
                    return tf.transpose(tf.reshape(t, [1, length, heads, size]), [0, 2, 1, 3])

                q = split(dense(w, x, f"{s}/attention_1/self/query", h_size))
                k = split(dense(w, x, f"{s}/attention_1/self/key", h_size))
                v = split(dense(w, x, f"{s}/attention_1/self/value", h_size))
                probs = tf.nn.softmax(tf.matmul(q, k, transpose_b=True) / np.sqrt(size))
                ctx = tf.reshape(
                    tf.transpose(tf.matmul(probs, v), [0, 2, 1, 3]), [1, length, h_size]
                )
                attn = layer_norm(
                    w, dense(w, ctx, f"{s}/attention_1/output/dense", h_size) + x, f"{s}/LayerNorm"
                )
                inter = gelu(
                    dense(w, attn, f"{s}/ffn_1/intermediate/dense", cfg["intermediate_size"])
                )
                out = dense(w, inter, f"{s}/ffn_1/intermediate/output/dense", h_size)
                x = layer_norm(w, out + attn, f"{s}/LayerNorm_1")
    pooled = tf.tanh(dense(w, x[:, 0], "bert/pooler/dense", h_size))
    return x, pooled


def config(**overrides: int) -> dict:
    cfg = {
        "attention_probs_dropout_prob": 0.0,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "embedding_size": 8,
        "hidden_size": 16,
        "initializer_range": 0.02,
        "intermediate_size": 32,
        "max_position_embeddings": 64,
        "num_attention_heads": 4,
        "num_hidden_layers": 3,
        "num_hidden_groups": 1,
        "net_structure_type": 0,
        "gap_size": 0,
        "num_memory_blocks": 0,
        "inner_group_num": 1,
        "down_scale_factor": 1,
        "type_vocab_size": 2,
        "vocab_size": 1000,
    }
    return cfg | overrides


def write(
    name: str,
    cfg: dict,
    sp: spm.SentencePieceProcessor,
    labels: list[str] | None,
    dtype: tf.DType = tf.float32,
    adam: bool = False,
    devices: int = 1,
    pretraining: bool = False,
    seed: int = 0,
) -> None:
    out = FIXTURES / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    graph = tf.Graph()
    with graph.as_default():
        w = Weights(seed, dtype, adam, devices)
        ids = tf1.placeholder(tf.int32, [1, None])
        seq, pooled = albert(w, ids, cfg)
        if labels is not None:
            ow = w.get("output_weights", [len(labels), cfg["hidden_size"]])
            result = tf.matmul(seq[0], ow, transpose_b=True) + w.get(
                "output_bias", [len(labels)], "b"
            )
        else:
            result = seq[0]
        if pretraining:
            t = layer_norm(
                w,
                gelu(dense(w, seq, "cls/predictions/transform/dense", cfg["embedding_size"])),
                "cls/predictions/transform/LayerNorm",
            )
            w.get("cls/predictions/output_bias", [cfg["vocab_size"]], "b")
            w.get("cls/seq_relationship/output_weights", [2, cfg["hidden_size"]])
            w.get("cls/seq_relationship/output_bias", [2], "b")
            del t
        step = tf1.train.get_or_create_global_step()
        saver = tf1.train.Saver(sharded=devices > 1)
        session_config = tf1.ConfigProto(device_count={"CPU": devices})
        with tf1.Session(graph=graph, config=session_config) as session:
            session.run(tf1.global_variables_initializer())
            w.load(session)
            session.run(step.assign(1234))
            saver.save(session, str(out / "model.ckpt"), global_step=1234, write_meta_graph=False)
            results = []
            for text in PARITY_TEXTS:
                piece_ids = [sp.piece_to_id(p) for p in encode_pieces(sp, preprocess(text))]
                row = [sp.piece_to_id("[CLS]"), *piece_ids, sp.piece_to_id("[SEP]")]
                results.append((row, session.run(result, {ids: [row]})))
            pooled_value = session.run(pooled, {ids: [results[0][0]]})
    (out / "albert_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    if labels is not None and labels[0] == "[PAD]":
        (out / "label2id.pkl").write_bytes(
            pickle.dumps({label: i for i, label in enumerate(labels)})
        )
    width = max(len(r) for r, _ in results)
    input_ids = np.zeros((len(results), width), np.int64)
    expected = np.zeros((len(results), width, results[0][1].shape[-1]), np.float32)
    for i, (row, value) in enumerate(results):
        input_ids[i, : len(row)], expected[i, : len(row)] = row, value
    parity = FIXTURES / "parity"
    parity.mkdir(exist_ok=True)
    np.save(parity / f"{name}-input_ids.npy", input_ids)
    np.save(parity / f"{name}-lengths.npy", np.array([len(r) for r, _ in results]))
    np.save(parity / f"{name}-{'logits' if labels else 'hidden'}.npy", expected)
    if pretraining:
        np.save(parity / f"{name}-pooled.npy", pooled_value)


def write_odd(name: str, build: callable) -> None:  # type: ignore[valid-type]
    """A small checkpoint that is not google-research ALBERT, for the refusal tests."""
    out = FIXTURES / name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with tf.Graph().as_default() as graph:
        build()
        tf1.train.get_or_create_global_step()
        saver = tf1.train.Saver()
        with tf1.Session(graph=graph) as session:
            session.run(tf1.global_variables_initializer())
            saver.save(session, str(out / "model.ckpt"), global_step=7, write_meta_graph=False)
    (out / "albert_config.json").write_text(json.dumps(config(), indent=2) + "\n")


def write_meta(path: Path, cfg: dict) -> None:
    """A MetaGraphDef with modeling.py's scopes: ``layer_N`` is a name_scope inside the
    re-entered ``group_G`` variable scope (``group_0``, ``group_0_1``, ...), so only the graph,
    not the index, knows the layer count; the query kernel's reshape to [H, heads, head size]
    knows the heads. The ops are stand-ins (no weights), keeping the file a few KB where the
    full training graph is megabytes."""
    h_size, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    layers, groups = cfg["num_hidden_layers"], cfg["num_hidden_groups"]
    with tf.Graph().as_default() as graph:
        kernel = tf1.placeholder(tf.float32, [h_size, h_size], name="kernel")
        with tf1.variable_scope("bert/encoder/transformer", reuse=tf1.AUTO_REUSE):
            for layer in range(layers):
                with (
                    tf1.variable_scope(f"group_{int(layer / layers * groups)}"),
                    tf.name_scope(f"layer_{layer}"),
                    tf1.variable_scope("inner_group_0/attention_1/self/query"),
                ):
                    tf.reshape(kernel, [h_size, heads, h_size // heads])
        tf1.train.export_meta_graph(filename=str(path), graph=graph)


def keras_names() -> None:
    """google-research/albert#241: an ALBERT run under TF2/Keras (per-layer LayerNorms)."""
    zeros = tf1.zeros_initializer()
    for name in (
        "bert/embeddings/layer_normalization/beta",
        "bert/encoder/transformer/group_0_11/layer_11/inner_group_0/layer_normalization_24/gamma",
    ):
        tf1.get_variable(name, [16], initializer=zeros)


def partitioned() -> None:
    tf1.get_variable(
        "bert/embeddings/word_embeddings",
        [10, 4],
        partitioner=tf1.fixed_size_partitioner(2),
        initializer=tf1.zeros_initializer(),
    )


def main() -> None:
    if not ABSTRACTS.is_dir():
        sys.exit(f"{ABSTRACTS} is needed to train the fixture SentencePiece model")
    sp = train_spm()
    write("ner", config(), sp, BIOBERT_LABELS, adam=True, devices=2, seed=1)
    # a TPU run writes its state file with the bucket's path: only the basename is usable
    (FIXTURES / "ner/checkpoint").write_text(
        'model_checkpoint_path: "gs://bioalbert-runs/ncbi/model.ckpt-1234"\n'
        'all_model_checkpoint_paths: "gs://bioalbert-runs/ncbi/model.ckpt-1234"\n'
    )
    write(
        "groups",
        config(num_hidden_layers=4, num_hidden_groups=2, inner_group_num=2),
        sp,
        ["O", "B-Disease", "I-Disease"],
        dtype=tf.float16,
        seed=2,
    )
    write("bf16", config(num_hidden_layers=2), sp, BIOBERT_LABELS, dtype=tf.bfloat16, seed=3)
    write("same-size", config(embedding_size=16, num_hidden_layers=2), sp, BIOBERT_LABELS, seed=4)
    write("pretrained", config(num_hidden_layers=2), sp, None, pretraining=True, seed=5)
    write_odd("keras-names", keras_names)
    write_odd("partitioned", partitioned)

    snappy = FIXTURES / "ner-snappy"
    shutil.rmtree(snappy, ignore_errors=True)
    snappy.mkdir()
    source = FIXTURES / "ner/model.ckpt-1234.index"
    snappy_index(source, snappy / source.name)
    # like a BioALBERT release: index and .meta, no config (nor, here, the data shards)
    for name in ("label2id.pkl", "checkpoint"):
        shutil.copy(FIXTURES / "ner" / name, snappy)
    write_meta(snappy / "model.ckpt-1234.meta", config())
    # TensorFlow's own reader must read the rewrite exactly as the original
    check = FIXTURES / "snappy-check"
    shutil.copytree(FIXTURES / "ner", check)
    shutil.copy(snappy / source.name, check / source.name)
    original = tf.train.load_checkpoint(str(FIXTURES / "ner/model.ckpt-1234"))
    rewritten = tf.train.load_checkpoint(str(check / "model.ckpt-1234"))
    for name in original.get_variable_to_shape_map():
        assert np.array_equal(original.get_tensor(name), rewritten.get_tensor(name)), name
    shutil.rmtree(check)
    print("fixtures written:", sorted(p.name for p in FIXTURES.iterdir()))


if __name__ == "__main__":
    main()
