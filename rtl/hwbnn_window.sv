// hwbnn_window: the sliding-window generator of a k x k convolution (stride S, padding PAD with
// the code PAD_VALUE), on NHWC images.
//
// Input: an image of H * W * C codes in (h, w, c) order, IN_ELEMS per beat.  Output: for each
// output pixel (oh, ow) in row-major order, its window of K * K * C codes in (kh, kw, c) order,
// SIMD per beat (the matrix-vector unit's input).  Two image buffers (ping-pong): the next image
// is written while the current one is read, so an image takes max(H * W * C / IN_ELEMS,
// HO * WO * K * K * C / SIMD) cycles here.
module hwbnn_window #(
    parameter int H = 4,
    parameter int W = 4,
    parameter int C = 1,
    parameter int K = 3,
    parameter int S = 1,
    parameter int PAD = 0,
    parameter int PAD_VALUE = 0,
    parameter int BITS = 1,
    parameter int IN_ELEMS = 1,
    parameter int SIMD = 1
) (
    input  logic                     clk,
    input  logic                     rst,
    input  logic                     in_valid,
    output logic                     in_ready,
    input  logic [IN_ELEMS*BITS-1:0] in_data,
    output logic                     out_valid,
    input  logic                     out_ready,
    output logic [SIMD*BITS-1:0]     out_data
);
  localparam int HO = (H + 2 * PAD - K) / S + 1;
  localparam int WO = (W + 2 * PAD - K) / S + 1;
  localparam int N = H * W * C;
  localparam int KK = K * K * C;

  logic [BITS-1:0] mem[2][N];
  logic full[2];
  logic wb, rb;  // the bank being written, the bank being read
  int unsigned wpos;  // next value written
  int unsigned oh, ow, t;  // output pixel, first window value of this beat

  assign in_ready = !full[wb];
  assign out_valid = full[rb];

  always_comb begin
    for (int j = 0; j < SIMD; j++) begin
      int v, kh, kw, c, ih, iw;
      v = int'(t) + j;
      kh = v / (K * C);
      kw = (v / C) % K;
      c = v % C;
      ih = int'(oh) * S - PAD + kh;
      iw = int'(ow) * S - PAD + kw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) out_data[j*BITS+:BITS] = BITS'(PAD_VALUE);
      else out_data[j*BITS+:BITS] = mem[rb][(ih*W+iw)*C+c];
    end
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      full[0] <= 1'b0;
      full[1] <= 1'b0;
      wb <= 1'b0;
      rb <= 1'b0;
      wpos <= 0;
      oh <= 0;
      ow <= 0;
      t <= 0;
    end else begin
      if (in_valid && in_ready) begin
        for (int i = 0; i < IN_ELEMS; i++) mem[wb][wpos+i] <= in_data[i*BITS+:BITS];
        if (wpos + IN_ELEMS == N) begin
          wpos <= 0;
          full[wb] <= 1'b1;
          wb <= !wb;
        end else wpos <= wpos + IN_ELEMS;
      end
      if (out_valid && out_ready) begin
        if (t + SIMD < KK) t <= t + SIMD;
        else begin
          t <= 0;
          if (ow + 1 < WO) ow <= ow + 1;
          else begin
            ow <= 0;
            if (oh + 1 < HO) oh <= oh + 1;
            else begin
              oh <= 0;
              full[rb] <= 1'b0;
              rb <= !rb;
            end
          end
        end
      end
    end
  end
endmodule
