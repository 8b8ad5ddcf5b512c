// hwbnn_fifo: a first-in first-out stream buffer of DEPTH beats of BITS bits.
//
// Between two layers it lets the producer run a frame ahead while the consumer re-reads its
// input for its other neuron folds, so each layer's schedule (NF * SF cycles) sets the
// interval between frames, not the sum of its neighbours'.
module hwbnn_fifo #(
    parameter int DEPTH = 2,
    parameter int BITS = 1
) (
    input  logic            clk,
    input  logic            rst,
    input  logic            in_valid,
    output logic            in_ready,
    input  logic [BITS-1:0] in_data,
    output logic            out_valid,
    input  logic            out_ready,
    output logic [BITS-1:0] out_data
);
  localparam int AW = (DEPTH > 1) ? $clog2(DEPTH) : 1;

  logic [BITS-1:0] mem[DEPTH];
  logic [AW-1:0] rd, wr;
  logic [AW:0] count;

  assign in_ready = (32'(count) < DEPTH);
  assign out_valid = (count != '0);
  assign out_data = mem[rd];

  always_ff @(posedge clk) begin
    if (rst) begin
      rd <= '0;
      wr <= '0;
      count <= '0;
    end else begin
      if (in_valid && in_ready) begin
        mem[wr] <= in_data;
        wr <= (32'(wr) == DEPTH - 1) ? '0 : wr + 1'b1;
      end
      if (out_valid && out_ready) rd <= (32'(rd) == DEPTH - 1) ? '0 : rd + 1'b1;
      count <= count + (AW + 1)'(in_valid && in_ready) - (AW + 1)'(out_valid && out_ready);
    end
  end
endmodule
