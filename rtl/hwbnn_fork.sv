// hwbnn_fork: one stream to N readers (a tensor that several layers read).
//
// Eager: each output takes the beat on its own handshake and is then marked done; the input beat
// is consumed once every output has taken it.  A slow reader therefore holds back only the
// readers behind it in the graph, never a faster one within the same beat.  Outputs share data.
module hwbnn_fork #(
    parameter int N = 2,
    parameter int BITS = 1
) (
    input  logic            clk,
    input  logic            rst,
    input  logic            in_valid,
    output logic            in_ready,
    input  logic [BITS-1:0] in_data,
    output logic [N-1:0]    out_valid,
    input  logic [N-1:0]    out_ready,
    output logic [BITS-1:0] out_data
);
  logic [N-1:0] done;  // outputs that already took the current beat

  assign out_valid = in_valid ? ~done : '0;
  assign out_data = in_data;
  assign in_ready = &(done | out_ready);

  always_ff @(posedge clk) begin
    if (rst || (in_valid && in_ready)) done <= '0;
    else done <= done | (out_valid & out_ready);
  end
endmodule
