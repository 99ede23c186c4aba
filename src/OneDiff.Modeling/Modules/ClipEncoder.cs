using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

#pragma warning disable IDE1006 // field names are the checkpoint's parameter names

/// <summary>The CLIP layer stack; returns every hidden state (index 0 is its input), as Hugging
/// Face's <c>output_hidden_states</c>.</summary>
public sealed class ClipEncoder : nn.Module<Tensor, Tensor?, Tensor[]>
{
    public readonly ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(int hidden, int intermediate, int heads, int count, double eps, string act) : base(nameof(ClipEncoder))
    {
        layers = new ModuleList<ClipEncoderLayer>(Enumerable.Range(0, count).Select(_ => new ClipEncoderLayer(hidden, intermediate, heads, eps, act)).ToArray());
        RegisterComponents();
    }

    /// <param name="keepLayers">when given, only these hidden-state indices are kept (the rest are
    /// freed as soon as the next layer has run); the others are null.</param>
    public Tensor[] forward(Tensor x, Tensor? mask, ISet<int>? keepLayers)
    {
        var states = new Tensor[layers.Count + 1];
        states[0] = x;
        for (int i = 0; i < layers.Count; i++)
        {
            var next = layers[i].forward(states[i], mask);
            if (keepLayers is not null && i > 0 && !keepLayers.Contains(i)) { states[i].Dispose(); states[i] = null!; }
            states[i + 1] = next;
        }
        return states;
    }

    public override Tensor[] forward(Tensor x, Tensor? mask) => forward(x, mask, null);
}
