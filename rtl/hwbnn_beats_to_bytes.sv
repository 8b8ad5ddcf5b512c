// hwbnn_beats_to_bytes: a stream of beats of ELEMS values of BITS bits to a byte stream.
//
// Value k of a beat (in_data[k*BITS +: BITS]) is extended to BYTES = ceil(BITS / 8) bytes, sign
// extended when SIGNED (two's complement), else zero extended, and sent least significant byte
// first; value 0 first, ELEMS * BYTES bytes per beat.  A beat is taken when the one before has
// been sent in full, so the byte side's back-pressure reaches in_ready and no value is dropped.
module hwbnn_beats_to_bytes #(
    parameter int ELEMS = 1,
    parameter int BITS = 8,
    parameter bit SIGNED = 0
) (
    input  logic                  clk,
    input  logic                  rst,
    input  logic                  in_valid,
    output logic                  in_ready,
    input  logic [ELEMS*BITS-1:0] in_data,
    output logic                  out_valid,
    input  logic                  out_ready,
    output logic [7:0]            out_data
);
  localparam int BYTES = (BITS + 7) / 8;
  localparam int N = ELEMS * BYTES;
  localparam int CW = $clog2(N + 1);

  logic [8*N-1:0] wide;  // in_data, each value extended to 8 * BYTES bits
  logic [8*N-1:0] shift;  // the bytes still to send, the next one at the bottom
  logic [CW-1:0] left;  // bytes still to send

  for (genvar k = 0; k < ELEMS; k++) begin : value
    if (SIGNED) begin : sign
      assign wide[k*8*BYTES+:8*BYTES] = (8 * BYTES)'($signed(in_data[k*BITS+:BITS]));
    end else begin : zero
      assign wide[k*8*BYTES+:8*BYTES] = (8 * BYTES)'(in_data[k*BITS+:BITS]);
    end
  end

  assign in_ready = (left == '0);
  assign out_valid = (left != '0);
  assign out_data = shift[7:0];

  always_ff @(posedge clk) begin
    if (rst) begin
      left <= '0;
      shift <= '0;
    end else if (in_valid && in_ready) begin
      shift <= wide;
      left <= CW'(N);
    end else if (out_valid && out_ready) begin
      shift <= shift >> 8;
      left <= left - 1'b1;
    end
  end
endmodule
