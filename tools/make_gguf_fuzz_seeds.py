#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_gguf.cpp: small GGUF v3 files (each well under the
fuzzer's 4 KiB max_len) covering Jamba metadata with a per-layer head_count_kv array, every
metadata value type, a llama (SentencePiece) vocabulary, and tensors of several block types.
Run from the repository root: python3 tools/make_gguf_fuzz_seeds.py"""
import struct

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)


def s(text):
    b = text.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, value):
    out = s(key) + struct.pack("<I", vtype)
    if vtype == STR:
        return out + s(value)
    if vtype == ARR:
        etype, items = value
        out += struct.pack("<IQ", etype, len(items))
        if etype == STR:
            return out + b"".join(s(x) for x in items)
        fmt = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}[etype]
        return out + b"".join(struct.pack("<" + fmt, x) for x in items)
    fmt = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q", F64: "d"}[vtype]
    return out + struct.pack("<" + fmt, value)


def gguf(kvs, tensors, alignment=32):
    """tensors: (name, ne, ggml_type, bytes)."""
    if alignment != 32:
        kvs = [kv("general.alignment", U32, alignment)] + kvs
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + b"".join(kvs)
    infos, data, offset = b"", b"", 0
    for name, ne, ttype, payload in tensors:
        infos += s(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        infos += struct.pack("<IQ", ttype, offset)
        padded = payload + b"\0" * ((-len(payload)) % alignment)
        data += padded
        offset += len(padded)
    out = head + infos
    out += b"\0" * ((-len(out)) % alignment)
    return out + data


def jamba_kvs(layers=2, kv_heads=(0, 1)):
    p = "jamba."
    return [
        kv("general.architecture", STR, "jamba"),
        kv(p + "block_count", U32, layers),
        kv(p + "context_length", U32, 64),
        kv(p + "embedding_length", U32, 32),
        kv(p + "feed_forward_length", U32, 32),
        kv(p + "attention.head_count", U32, 2),
        kv(p + "attention.head_count_kv", ARR, (I32, list(kv_heads))),
        kv(p + "ssm.conv_kernel", U32, 2),
        kv(p + "ssm.inner_size", U32, 64),
        kv(p + "ssm.state_size", U32, 2),
        kv(p + "ssm.time_step_rank", U32, 1),
        kv(p + "attention.layer_norm_rms_epsilon", F32, 1e-6),
        kv(p + "expert_count", U32, 2),
        kv(p + "expert_used_count", U32, 1),
    ]


def q8_block(d_bits=0x3C00):
    return struct.pack("<H", d_bits) + bytes((i * 7) & 0xFF for i in range(32))


seeds = {}
# Jamba metadata and a few tensors of every readable kind.
seeds["jamba_small.gguf"] = gguf(
    jamba_kvs() + [kv("tokenizer.ggml.model", STR, "none"), kv("tokenizer.ggml.eos_token_id", U32, 2)],
    [
        ("token_embd.weight", [32, 4], 8, q8_block() * 4),
        ("output_norm.weight", [32], 0, struct.pack("<32f", *([1.0] * 32))),
        ("blk.1.ffn_gate_inp.weight", [32, 2], 1, b"\x00\x3c" * 64),
        ("blk.1.ffn_up_exps.weight", [32, 1, 2], 2, (struct.pack("<H", 0x3C00) + bytes(range(16))) * 2),
        ("blk.0.ssm_a", [2, 64], 30, b"\x80\xbf" * 128),
        ("blk.0.ssm_in.weight", [256, 1], 12, struct.pack("<HH", 0x3C00, 0x3800) + bytes(range(12)) + bytes(128)),
        ("blk.0.ssm_out.weight", [256, 1], 14, bytes(range(128)) + bytes(64) + bytes(16) + struct.pack("<H", 0x3C00)),
    ],
)
# A llama vocabulary: unknown, control, byte and normal pieces, scores and types.
tokens = ["<unk>", "<s>", "</s>", "<0x0A>", "<0x41>", "\u2581", "a", "b", "\u2581a", "ab", "\u2581ab"]
types = [2, 3, 3, 6, 6, 1, 1, 1, 1, 1, 1]
scores = [0.0, 0.0, 0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0]
seeds["vocab.gguf"] = gguf(
    jamba_kvs(1, (1,))
    + [
        kv("tokenizer.ggml.model", STR, "llama"),
        kv("tokenizer.ggml.tokens", ARR, (STR, tokens)),
        kv("tokenizer.ggml.scores", ARR, (F32, scores)),
        kv("tokenizer.ggml.token_type", ARR, (I32, types)),
        kv("tokenizer.ggml.bos_token_id", U32, 1),
        kv("tokenizer.ggml.eos_token_id", U32, 2),
        kv("tokenizer.ggml.add_bos_token", BOOL, True),
        kv("tokenizer.ggml.add_space_prefix", BOOL, True),
    ],
    [("token_embd.weight", [32, 11], 0, bytes(32 * 11 * 4))],
)
# Every value type, a custom alignment, plain tensor types.
seeds["all_types.gguf"] = gguf(
    [
        kv("general.architecture", STR, "other"),
        kv("u8", U8, 7), kv("i8", I8, -7), kv("u16", U16, 700), kv("i16", I16, -700),
        kv("u32", U32, 70000), kv("i32", I32, -70000), kv("f32", F32, 0.5), kv("bool", BOOL, True),
        kv("u64", U64, 1 << 40), kv("i64", I64, -(1 << 40)), kv("f64", F64, 0.25),
        kv("arr.u8", ARR, (U8, [1, 2, 3])), kv("arr.i64", ARR, (I64, [-1, 1])), kv("arr.f64", ARR, (F64, [1.5])),
        kv("arr.bool", ARR, (BOOL, [True, False])), kv("arr.str", ARR, (STR, ["x", "", "yz"])),
    ],
    [
        ("a", [4, 2], 0, bytes(32)),
        ("b", [3], 1, bytes(6)),
        ("c", [32], 3, bytes(20)),
        ("d", [32], 6, bytes(22)),
        ("e", [32], 7, bytes(24)),
        ("f", [256], 13, bytes(176)),
        ("g", [2], 26, bytes(8)),
    ],
    alignment=64,
)
# A complete tiny model (layer 0: Mamba + dense FFN, layer 1: attention + MoE) that loads and
# runs, so mutations reach the expert slicing, conversion and binding: H 4, Di 8, N 2, K 2, R 1,
# I 4, E 2, V 4; matrices F16, small tensors F32.
def f16(n, seed):
    return b"".join(struct.pack("<e", ((i * 7 + seed) % 11 - 5) / 10) for i in range(n))


def f32(n, value=None, seed=0):
    return b"".join(struct.pack("<f", value if value is not None else ((i * 3 + seed) % 7 - 3) / 10) for i in range(n))


H, Di, N, K, R, I, E, V = 4, 8, 2, 2, 1, 4, 2, 4
tiny = jamba_kvs(2, (0, 1))
tiny[3] = kv("jamba.embedding_length", U32, H)
tiny[4] = kv("jamba.feed_forward_length", U32, I)
tiny[7] = kv("jamba.ssm.conv_kernel", U32, K)
tiny[8] = kv("jamba.ssm.inner_size", U32, Di)
tiny[9] = kv("jamba.ssm.state_size", U32, N)
tiny[12] = kv("jamba.expert_count", U32, E)
tiny += [kv("tokenizer.ggml.model", STR, "none"), kv("tokenizer.ggml.eos_token_id", U32, 2)]
seeds["tiny_model.gguf"] = gguf(
    tiny,
    [
        ("token_embd.weight", [H, V], 1, f16(H * V, 1)),
        ("blk.0.attn_norm.weight", [H], 0, f32(H, 1.0)),
        ("blk.0.ssm_in.weight", [H, 2 * Di], 1, f16(H * 2 * Di, 2)),
        ("blk.0.ssm_conv1d.weight", [K, Di], 0, f32(K * Di)),
        ("blk.0.ssm_conv1d.bias", [Di], 0, f32(Di)),
        ("blk.0.ssm_x.weight", [Di, R + 2 * N], 1, f16(Di * (R + 2 * N), 3)),
        ("blk.0.ssm_dt.weight", [R, Di], 1, f16(R * Di, 4)),
        ("blk.0.ssm_dt.bias", [Di], 0, f32(Di)),
        ("blk.0.ssm_a", [N, Di], 0, f32(N * Di, -1.0)),
        ("blk.0.ssm_d", [Di], 0, f32(Di, 1.0)),
        ("blk.0.ssm_dt_norm.weight", [R], 0, f32(R, 1.0)),
        ("blk.0.ssm_b_norm.weight", [N], 0, f32(N, 1.0)),
        ("blk.0.ssm_c_norm.weight", [N], 0, f32(N, 1.0)),
        ("blk.0.ssm_out.weight", [Di, H], 1, f16(Di * H, 5)),
        ("blk.0.ffn_norm.weight", [H], 0, f32(H, 1.0)),
        ("blk.0.ffn_gate.weight", [H, I], 1, f16(H * I, 6)),
        ("blk.0.ffn_up.weight", [H, I], 1, f16(H * I, 7)),
        ("blk.0.ffn_down.weight", [I, H], 1, f16(I * H, 8)),
        ("blk.1.attn_norm.weight", [H], 0, f32(H, 1.0)),
        ("blk.1.attn_q.weight", [H, H], 1, f16(H * H, 9)),
        ("blk.1.attn_k.weight", [H, 2], 1, f16(H * 2, 10)),
        ("blk.1.attn_v.weight", [H, 2], 1, f16(H * 2, 11)),
        ("blk.1.attn_output.weight", [H, H], 1, f16(H * H, 12)),
        ("blk.1.ffn_norm.weight", [H], 0, f32(H, 1.0)),
        ("blk.1.ffn_gate_inp.weight", [H, E], 0, f32(H * E)),
        ("blk.1.ffn_gate_exps.weight", [H, I, E], 1, f16(H * I * E, 13)),
        ("blk.1.ffn_up_exps.weight", [H, I, E], 1, f16(H * I * E, 14)),
        ("blk.1.ffn_down_exps.weight", [I, H, E], 1, f16(I * H * E, 15)),
        ("output_norm.weight", [H], 0, f32(H, 1.0)),
    ],
    alignment=8,
)
for name, data in seeds.items():
    assert len(data) < 4096, (name, len(data))
    with open("tests/fuzz/corpus/gguf/" + name, "wb") as f:
        f.write(data)
    print(name, len(data))
