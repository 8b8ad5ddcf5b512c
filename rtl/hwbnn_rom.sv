// hwbnn_rom: a read-only memory of WORDS words of BITS bits, initialised from FILE ($readmemh).
// STYLE: "block", "distributed", or "auto" (the synthesis tool decides); Yosys and Vivado read
// the rom_style / ram_style attributes.  A distributed ROM is LUTs: Vivado's rom_style
// "distributed", Yosys' "logic" (its ECP5 mapping has no distributed ROM primitive).
//
// Read latency (data is mem[addr] of the cycle with en that many cycles before; en holds it):
//   PIPELINED = 0: 1 cycle, a registered read (so it maps to block RAM as well as to LUTs);
//   PIPELINED = 1, BANKS = 1: 2 cycles, the read and an output register (a block RAM's
//     clock-to-out, 5.6 ns on an ECP5, then gets a cycle of its own);
//   PIPELINED = 1, BANKS > 1: 3 cycles.  The memory is BANKS banks of BANK_WORDS words (a power of
//     two: the depth of one block RAM at the word's width), bank b in its own image
//     "b<bbb>_<FILE>" (b in three decimal digits) holding words b * BANK_WORDS + j.  Each bank's
//     read is registered again, then the bank of the address is selected: the multiplexer over
//     the blocks of a deep memory never sits behind a block RAM's clock-to-out.
module hwbnn_rom #(
    parameter int WORDS = 1,
    parameter int BITS = 1,
    parameter FILE = "",
    parameter STYLE = "auto",
    parameter bit PIPELINED = 0,
    parameter int BANKS = 1,
    parameter int BANK_WORDS = WORDS
) (
    input  logic                  clk,
    input  logic                  en,
    input  logic [31:0]           addr,
    output logic [BITS-1:0]       data
);
  if (PIPELINED && BANKS > 1) begin : g_banks
    localparam int LW = $clog2(BANK_WORDS);
    localparam int BSW = $clog2(BANKS);
    logic [BITS-1:0] q[BANKS], r[BANKS];
    logic [BSW-1:0] sel1, sel2;
    for (genvar b = 0; b < BANKS; b++) begin : g_bank
      (* rom_style = "block", ram_style = "block" *) logic [BITS-1:0] mem[BANK_WORDS];
      initial $readmemh({"b", 8'(48 + b / 100), 8'(48 + b / 10 % 10), 8'(48 + b % 10), "_", FILE}, mem);
      always_ff @(posedge clk) begin
        if (en) q[b] <= mem[addr[LW-1:0]];
        r[b] <= q[b];
      end
    end
    always_ff @(posedge clk) begin
      if (en) sel1 <= addr[LW+:BSW];
      sel2 <= sel1;
      data <= r[sel2];
    end
  end else begin : g_one
    logic [BITS-1:0] q;
    if (STYLE == "block") begin : g_block
      (* rom_style = "block", ram_style = "block" *) logic [BITS-1:0] mem[WORDS];
      initial $readmemh(FILE, mem);
      always_ff @(posedge clk) if (en) q <= mem[addr];
    end else if (STYLE == "distributed") begin : g_distributed
`ifdef YOSYS
      (* rom_style = "logic" *) logic [BITS-1:0] mem[WORDS];
`else
      (* rom_style = "distributed", ram_style = "distributed" *) logic [BITS-1:0] mem[WORDS];
`endif
      initial $readmemh(FILE, mem);
      always_ff @(posedge clk) if (en) q <= mem[addr];
    end else begin : g_auto
      logic [BITS-1:0] mem[WORDS];
      initial $readmemh(FILE, mem);
      always_ff @(posedge clk) if (en) q <= mem[addr];
    end
    if (PIPELINED) begin : g_out_reg
      always_ff @(posedge clk) data <= q;
    end else begin : g_direct
      assign data = q;
    end
  end
endmodule
