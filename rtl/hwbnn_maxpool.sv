// hwbnn_maxpool: K x K max pooling with stride S (no padding, floor) of NHWC images of codes.
//
// Input and output: (h, w, c) order, ELEMS codes per beat.  y[oh, ow, c] = max over the window
// of x[oh * S + kh, ow * S + kw, c] (on bits: an OR).  Two image buffers (ping-pong), as in
// hwbnn_window: an image takes max(H * W * C, HO * WO * C) / ELEMS cycles here.
module hwbnn_maxpool #(
    parameter int H = 4,
    parameter int W = 4,
    parameter int C = 1,
    parameter int K = 2,
    parameter int S = 2,
    parameter int BITS = 1,
    parameter int ELEMS = 1
) (
    input  logic                  clk,
    input  logic                  rst,
    input  logic                  in_valid,
    output logic                  in_ready,
    input  logic [ELEMS*BITS-1:0] in_data,
    output logic                  out_valid,
    input  logic                  out_ready,
    output logic [ELEMS*BITS-1:0] out_data
);
  localparam int HO = (H - K) / S + 1;
  localparam int WO = (W - K) / S + 1;
  localparam int N = H * W * C;

  logic [BITS-1:0] mem[2][N];
  logic full[2];
  logic wb, rb;
  int unsigned wpos;
  int unsigned oh, ow, c0;  // output pixel, first channel of this beat

  assign in_ready = !full[wb];
  assign out_valid = full[rb];

  always_comb begin
    for (int j = 0; j < ELEMS; j++) begin
      logic [BITS-1:0] m;
      m = '0;
      for (int kh = 0; kh < K; kh++) begin
        for (int kw = 0; kw < K; kw++) begin
          logic [BITS-1:0] v;
          v = mem[rb][((int'(oh)*S+kh)*W+int'(ow)*S+kw)*C+int'(c0)+j];
          if (v > m) m = v;
        end
      end
      out_data[j*BITS+:BITS] = m;
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
      c0 <= 0;
    end else begin
      if (in_valid && in_ready) begin
        for (int i = 0; i < ELEMS; i++) mem[wb][wpos+i] <= in_data[i*BITS+:BITS];
        if (wpos + ELEMS == N) begin
          wpos <= 0;
          full[wb] <= 1'b1;
          wb <= !wb;
        end else wpos <= wpos + ELEMS;
      end
      if (out_valid && out_ready) begin
        if (c0 + ELEMS < C) c0 <= c0 + ELEMS;
        else begin
          c0 <= 0;
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
