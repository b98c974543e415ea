// Include: what every causal grouped-query attention kernel shares (attention_fwd.wgsl,
// attention_bwd_dq.wgsl, attention_bwd_dkv.wgsl; the wrapper is src/ops/attention.ts).
//
// Layout (element units). Rows n = b·T + t. qkv [N, QKVW], QKVW = (NH + 2·NKV)·HS:
//   q head h at columns h·HS, k head g at NH·HS + g·HS, v head g at (NH+NKV)·HS + g·HS;
//   query head h uses kv head g = h / (NH/NKV).
//   out, dout [N, NH·HS] (head h at columns h·HS); lse, D [B·NH·T] at (b·NH + h)·T + t.
//   dqkv [N, QKVW]: attention_bwd_dq writes the q columns, attention_bwd_dkv the k and v columns,
//   every element.
// Mask: query t of sequence b sees keys j with lo <= j <= t, lo = min(segStart[b·T + t], t).
//
// Provides: struct Params { T, NH, NKV, QKVW, scale } at binding 0 (P), the bindings
//   1 read qkv f32 [N, QKVW] and 2 read segStart u32 [N] (first position of each row's example),
//   the tile constants HS, HSP = HS + 1 (row stride of staged tiles: no bank conflicts on column-wise
//   dot products), WG, BQ, BK, SEPT (score entries per thread), NEG (running-max start), MASKED
//   (score of a masked entry), and rowLo(b, t) (first allowed key of query row t of sequence b).
// Requires the defines HS (head size), WG (threads per workgroup), BQ, BK (query / key rows per
// tile; the wrapper picks them to fit the workgroup storage budget).

struct Params {
  T: u32, NH: u32, NKV: u32, QKVW: u32,
  scale: f32,
}

const HS: u32 = {{HS}}u;
const HSP: u32 = HS + 1u;
const WG: u32 = {{WG}}u;
const BQ: u32 = {{BQ}}u;
const BK: u32 = {{BK}}u;
const SEPT: u32 = (BQ * BK + WG - 1u) / WG; // score entries per thread
const NEG: f32 = -1.0e30;                    // running-max start
const MASKED: f32 = -3.0e38;                 // score of a masked entry (tested as s < -1e38)

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> segStart: array<u32>;

/** First allowed key of query row t (< T) of sequence b. */
fn rowLo(b: u32, t: u32) -> u32 {
  return min(segStart[b * P.T + t], t);
}
