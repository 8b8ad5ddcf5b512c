// hwbnn_bytes_to_beats: a byte stream to a stream of beats of ELEMS values of BITS bits.
//
// Each value arrives as BYTES = ceil(BITS / 8) bytes, least significant first; ELEMS values,
// ELEMS * BYTES bytes, form one beat, value k at out_data[k*BITS +: BITS] (the low BITS bits of
// its bytes; the bits above are dropped).  Bytes are shifted in from the top, so once all are in,
// byte j of the beat is at shift[8*j +: 8].  A beat is given while all its bytes are held; no
// byte is taken meanwhile.
module hwbnn_bytes_to_beats #(
    parameter int ELEMS = 1,
    parameter int BITS = 8
) (
    input  logic                  clk,
    input  logic                  rst,
    input  logic                  in_valid,
    output logic                  in_ready,
    input  logic [7:0]            in_data,
    output logic                  out_valid,
    input  logic                  out_ready,
    output logic [ELEMS*BITS-1:0] out_data
);
  localparam int BYTES = (BITS + 7) / 8;
  localparam int N = ELEMS * BYTES;
  localparam int CW = $clog2(N + 1);

  logic [8*N-1:0] shift;
  logic [CW-1:0] count;  // bytes held

  assign out_valid = (32'(count) == N);
  assign in_ready = !out_valid;
  for (genvar k = 0; k < ELEMS; k++) begin : value
    assign out_data[k*BITS+:BITS] = shift[k*8*BYTES+:BITS];
  end

  always_ff @(posedge clk) begin
    if (rst) begin
      count <= '0;
      shift <= '0;
    end else if (out_valid && out_ready) begin
      count <= '0;
    end else if (in_valid && in_ready) begin
      shift <= (8 * N)'({in_data, shift} >> 8);
      count <= count + 1'b1;
    end
  end
endmodule
