// hwbnn_window: the sliding windows of a k x k convolution (stride S, padding PAD with the code
// PAD_VALUE), or (POOL = 1) k x k max pooling, on NHWC images, from a line buffer.
//
// Input: an image of H * W * C codes in (h, w, c) order, IN_ELEMS per beat (IN_ELEMS divides
// W * C).  Output: for each output pixel (oh, ow) in row-major order a vector, OUT_ELEMS values
// per beat:
//   POOL = 0: its window of K * K * C codes in (kh, kw, c) order (the matrix-vector unit's input);
//   POOL = 1: its C channels, y[c] = max over the window of x[oh * S + kh, ow * S + kw, c]
//             (no padding; on bits an OR; SIGNED: two's complement codes).
//
// Line buffer: R = min(2K + S, H) input rows in a circular buffer.  Output row oh reads input rows
// first(oh) = max(0, oh * S - PAD) .. need(oh) = min(H - 1, oh * S - PAD + K - 1) (the last
// output row waits for the whole image), and is given once row need(oh) is written.  An input row
// is written once its slot no longer holds a row that is still read (it is below first + R).  So
// the writer runs K + S rows ahead of the reader, into the next image too, and an image takes
// max(H * W * C / IN_ELEMS, HO * WO * V / OUT_ELEMS) cycles here (V: the vector).  The output is
// a register, loaded with the next beat whenever it is empty or being taken.
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
  localparam int ROW = W * C;  // values per input row
  localparam int R = (2 * K + S < H) ? 2 * K + S : H;  // rows in the buffer
  localparam int V = POOL ? C : K * K * C;  // values per output pixel

  logic [BITS-1:0] mem[R*ROW];
  // writer: the row being written of its image, the value it is at, the slot of that row
  int unsigned wrow, wpos, wslot;
  logic wimg, rimg;  // each side's image parity
  // reader: output pixel, first value of this beat in its vector, the slot of its image's row 0
  int unsigned oh, ow, t, rbase;

  // input rows of the reader's image written completely (the writer may be in the next image)
  wire [31:0] written = (wimg == rimg) ? wrow : H + wrow;
  wire [31:0] first = (32'(oh) * S > PAD) ? 32'(oh) * S - PAD : 0;
  wire [31:0] need = (32'(oh) == HO - 1) ? H - 1 : ((32'(oh) * S + K - 1 - PAD < H - 1) ? 32'(oh) * S + K - 1 - PAD : H - 1);

  assign in_ready = (written < first + R);
  wire load = (written > need) && (!out_valid || out_ready);  // the output register takes the next beat

  // the input code at (ih, iw, c) of the reader's image, the pad code outside it
  function automatic logic [BITS-1:0] pixel(input int ih, input int iw, input int c);
    if (ih < 0 || ih >= H || iw < 0 || iw >= W) pixel = BITS'(PAD_VALUE);
    else pixel = mem[((int'(rbase) + ih) % R * W + iw) * C + c];
  endfunction

  // value v of output pixel (oh, ow)'s vector
  function automatic logic [BITS-1:0] value(input int v);
    logic [BITS-1:0] m, c;
    if (POOL) begin
      m = pixel(int'(oh) * S, int'(ow) * S, v);
      for (int kh = 0; kh < K; kh++)
        for (int kw = 0; kw < K; kw++) begin
          c = pixel(int'(oh) * S + kh, int'(ow) * S + kw, v);
          if (SIGNED ? ($signed(c) > $signed(m)) : (c > m)) m = c;
        end
      value = m;
    end else begin
      value = pixel(int'(oh) * S - PAD + v / (K * C), int'(ow) * S - PAD + (v / C) % K, v % C);
    end
  endfunction

  always_ff @(posedge clk) begin
    if (rst) begin
      wrow <= 0;
      wpos <= 0;
      wslot <= 0;
      wimg <= 1'b0;
      rimg <= 1'b0;
      oh <= 0;
      ow <= 0;
      t <= 0;
      rbase <= 0;
      out_valid <= 1'b0;
    end else begin
      if (in_valid && in_ready) begin
        for (int i = 0; i < IN_ELEMS; i++) mem[wslot*ROW+wpos+i] <= in_data[i*BITS+:BITS];
        if (wpos + IN_ELEMS == ROW) begin  // a row is complete
          wpos <= 0;
          wslot <= (wslot + 1 == R) ? 0 : wslot + 1;
          if (wrow + 1 == H) begin
            wrow <= 0;
            wimg <= !wimg;
          end else wrow <= wrow + 1;
        end else wpos <= wpos + IN_ELEMS;
      end
      if (out_valid && out_ready) out_valid <= 1'b0;
      if (load) begin
        for (int j = 0; j < OUT_ELEMS; j++) out_data[j*BITS+:BITS] <= value(int'(t) + j);
        out_valid <= 1'b1;
        if (t + OUT_ELEMS < V) t <= t + OUT_ELEMS;
        else begin
          t <= 0;
          if (ow + 1 < WO) ow <= ow + 1;
          else begin
            ow <= 0;
            if (oh + 1 < HO) oh <= oh + 1;
            else begin  // the image is done: its rows' slots move on by H
              oh <= 0;
              rbase <= (rbase + H) % R;
              rimg <= !rimg;
            end
          end
        end
      end
    end
  end
endmodule
