using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>SwiGLU feed-forward: down(act(gate(x)) * up(x)).</summary>
public sealed class LlamaMlp : nn.Module<Tensor, Tensor>
{
    readonly string _act;
    public readonly Linear gate_proj, up_proj, down_proj;
    readonly FusedProjections _gateUp; // registered nowhere: the parameters are gate/up_proj's

    /// <summary>LoRA adapters of gate/up/down_proj, while attached (<see cref="Models.Llama.LlamaModel.AttachLora"/>).</summary>
    public LoraSlots Lora { get; }

    public LlamaMlp(int hidden, int intermediate, bool bias, string act) : base(nameof(LlamaMlp))
    {
        _act = act;
        gate_proj = nn.Linear(hidden, intermediate, hasBias: bias);
        up_proj = nn.Linear(hidden, intermediate, hasBias: bias);
        down_proj = nn.Linear(intermediate, hidden, hasBias: bias);
        RegisterComponents();
        _gateUp = new FusedProjections(gate_proj, up_proj);
        Lora = new LoraSlots(register_module, name => _internal_submodules.Remove(name),
            ("gate_proj", gate_proj), ("up_proj", up_proj), ("down_proj", down_proj));
    }

    /// <summary>Whether inference runs gate and up as one product (see <see cref="FusedProjections"/>).</summary>
    public bool ProjectionsFused => _gateUp.Intact;

    /// <summary>gate/up's weights as one buffer while fused and in use (no biases), else null.</summary>
    internal Tensor? FusedGateUp => KernelChoices.FusedProjections && _gateUp.Bias is null ? _gateUp.Weight : null;

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        Tensor gate, up;
        if (Lora.IsEmpty && _gateUp.TryForward(x) is { } both)
        {
            long n = both.shape[^1] / 2;
            (gate, up) = (both.narrow(-1, 0, n), both.narrow(-1, n, n));
        }
        else (gate, up) = (Lora.Forward(gate_proj, x), Lora.Forward(up_proj, x));
        return Lora.Forward(down_proj, Activations.Apply(_act, gate) * up).MoveToOuterDisposeScope();
    }

    // A move gives every parameter storage of its own: share it again (same Parameter objects).
    protected override nn.Module _to(Device device, ScalarType dtype, bool non_blocking) { base._to(device, dtype, non_blocking); _gateUp.Fuse(); return this; }
    protected override nn.Module _to(DeviceType deviceType, int deviceIndex, bool non_blocking) { base._to(deviceType, deviceIndex, non_blocking); _gateUp.Fuse(); return this; }
    protected override nn.Module _to(ScalarType dtype, bool non_blocking) { base._to(dtype, non_blocking); _gateUp.Fuse(); return this; }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _gateUp.Dispose();
        base.Dispose(disposing);
    }
}
