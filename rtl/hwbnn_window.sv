// hwbnn_window: the sliding windows of a k x k convolution (stride S, padding PAD with the code
// PAD_VALUE), or (POOL = 1) k x k max pooling, on NHWC images.
//
// Input: an image of H * W * C codes in (h, w, c) order, IN_ELEMS per beat.  Output: for each
// output pixel (oh, ow) in row-major order a vector, OUT_ELEMS values per beat:
//   POOL = 0: its window of K * K * C codes in (kh, kw, c) order (the matrix-vector unit's input);
//   POOL = 1: its C channels, y[c] = max over the window of x[oh * S + kh, ow * S + kw, c]
//             (no padding; on bits an OR; SIGNED: two's complement codes).
// Two image buffers (ping-pong): the next image is written while the current one is read, so an
// image takes max(H * W * C / IN_ELEMS, HO * WO * V / OUT_ELEMS) cycles here (V: the vector).
module hwbnn_window #(
    parameter int H = 4,
    parameter int W = 4,
    parameter int C = 1,
    parameter int K = 3,
    parameter int S = 1,
    parameter int PAD = 0,
    parameter int PAD_VALUE = 0,
    parameter bit POOL = 0,
    parameter bit SIGNED = 0,
    parameter int BITS = 1,
    parameter int IN_ELEMS = 1,
    parameter int OUT_ELEMS = 1
) (
    input  logic                      clk,
    input  logic                      rst,
    input  logic                      in_valid,
    output logic                      in_ready,
    input  logic [IN_ELEMS*BITS-1:0]  in_data,
    output logic                      out_valid,
    input  logic                      out_ready,
    output logic [OUT_ELEMS*BITS-1:0] out_data
);
  localparam int HO = (H + 2 * PAD - K) / S + 1;
  localparam int WO = (W + 2 * PAD - K) / S + 1;
  localparam int N = H * W * C;
  localparam int V = POOL ? C : K * K * C;  // values per output pixel

  logic [BITS-1:0] mem[2][N];
  logic full[2];
  logic wb, rb;  // the bank being written, the bank being read
  int unsigned wpos;  // next value written
  int unsigned oh, ow, t;  // output pixel, first value of this beat in its vector

  assign in_ready = !full[wb];
  assign out_valid = full[rb];

  // the input code at (ih, iw, c) of the bank being read, the pad code outside the image
  function automatic logic [BITS-1:0] pixel(input int ih, input int iw, input int c);
    if (ih < 0 || ih >= H || iw < 0 || iw >= W) pixel = BITS'(PAD_VALUE);
    else pixel = mem[rb][(ih*W+iw)*C+c];
  endfunction

  always_comb begin
    for (int j = 0; j < OUT_ELEMS; j++) begin
      int v;
      logic [BITS-1:0] m, c;
      v = int'(t) + j;
      if (POOL) begin
        m = pixel(int'(oh) * S, int'(ow) * S, v);
        for (int kh = 0; kh < K; kh++)
          for (int kw = 0; kw < K; kw++) begin
            c = pixel(int'(oh) * S + kh, int'(ow) * S + kw, v);
            if (SIGNED ? ($signed(c) > $signed(m)) : (c > m)) m = c;
          end
        out_data[j*BITS+:BITS] = m;
      end else begin
        out_data[j*BITS+:BITS] = pixel(int'(oh) * S - PAD + v / (K * C), int'(ow) * S - PAD + (v / C) % K, v % C);
      end
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
        if (t + OUT_ELEMS < V) t <= t + OUT_ELEMS;
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
