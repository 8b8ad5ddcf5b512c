// hwbnn_fifo: a first-in first-out stream buffer of DEPTH beats of BITS bits.
//
// Between two layers it lets the producer run a frame ahead while the consumer re-reads its
// input for its other neuron folds, so each layer's schedule (NF * SF cycles) sets the
// interval between frames, not the sum of its neighbours'.
//
// OUT_REG = 1 (deep FIFOs, whose memory is a block RAM): the beats leave through a two-register
// slice (head, and a spare that takes one more beat while the consumer waits), so the block
// RAM's clock-to-out (5.8 ns on an ECP5-6) ends at a register beside it rather than in the
// consumer's logic.  One beat per cycle still; two beats more room, one cycle more latency.
module hwbnn_fifo #(
    parameter int DEPTH = 2,
    parameter int BITS = 1,
    parameter bit OUT_REG = 0
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

  wire core_valid = (count != '0);
  wire [BITS-1:0] core_data = mem[rd];
  logic core_ready;
  wire pop = core_valid && core_ready;
  assign in_ready = (32'(count) < DEPTH);

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
      if (pop) rd <= (32'(rd) == DEPTH - 1) ? '0 : rd + 1'b1;
      count <= count + (AW + 1)'(in_valid && in_ready) - (AW + 1)'(pop);
    end
  end

  if (OUT_REG) begin : g_slice
    logic [BITS-1:0] spare;
    logic spare_valid;
    assign core_ready = !spare_valid;
    always_ff @(posedge clk) begin
      if (rst) begin
        out_valid <= 1'b0;
        spare_valid <= 1'b0;
      end else if (!out_valid || out_ready) begin  // the head moves on (or is empty)
        out_valid <= spare_valid || core_valid;
        spare_valid <= 1'b0;
      end else if (pop) spare_valid <= 1'b1;  // the consumer waits: one more beat in the spare
      if (!out_valid || out_ready) out_data <= spare_valid ? spare : core_data;
      else if (pop) spare <= core_data;
    end
  end else begin : g_direct
    assign core_ready = out_ready;
    assign out_valid = core_valid;
    assign out_data = core_data;
  end
endmodule
