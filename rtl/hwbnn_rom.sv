// hwbnn_rom: a read-only memory of WORDS words of BITS bits, initialised from FILE ($readmemh),
// with one registered read port (data is mem[addr] of the last cycle with en), so it maps to
// block RAM as well as to distributed RAM.  STYLE: "block", "distributed", or "auto" (the
// synthesis tool decides); Yosys and Vivado read the rom_style / ram_style attributes.  A
// distributed ROM is LUTs: Vivado's rom_style "distributed", Yosys' "logic" (its ECP5 mapping has
// no distributed ROM primitive).
module hwbnn_rom #(
    parameter int WORDS = 1,
    parameter int BITS = 1,
    parameter FILE = "",
    parameter STYLE = "auto"
) (
    input  logic                  clk,
    input  logic                  en,
    input  logic [31:0]           addr,
    output logic [BITS-1:0]       data
);
  if (STYLE == "block") begin : g_block
    (* rom_style = "block", ram_style = "block" *) logic [BITS-1:0] mem[WORDS];
    initial $readmemh(FILE, mem);
    always_ff @(posedge clk) if (en) data <= mem[addr];
  end else if (STYLE == "distributed") begin : g_distributed
`ifdef YOSYS
    (* rom_style = "logic" *) logic [BITS-1:0] mem[WORDS];
`else
    (* rom_style = "distributed", ram_style = "distributed" *) logic [BITS-1:0] mem[WORDS];
`endif
    initial $readmemh(FILE, mem);
    always_ff @(posedge clk) if (en) data <= mem[addr];
  end else begin : g_auto
    logic [BITS-1:0] mem[WORDS];
    initial $readmemh(FILE, mem);
    always_ff @(posedge clk) if (en) data <= mem[addr];
  end
endmodule
