using OneDiff.Modeling.Models.Llama;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>
/// The LoRA adapters of one module's projections (<see cref="LlamaAttention"/>, <see cref="LlamaMlp"/>):
/// attached as the owner's submodules <c>{projection}_lora</c> (so they train, move, save and
/// resume with the model by name), added to the projections' outputs by <see cref="Forward"/>, and
/// folded into the weights and removed by <see cref="Merge"/>, which leaves the module as it was
/// built: the same parameter names, nothing extra to run.
/// </summary>
public sealed class LoraSlots
{
    readonly (string Name, Linear Layer)[] _projections;
    readonly Action<string, nn.Module> _register;
    readonly Func<string, bool> _unregister;
    readonly Dictionary<Linear, (string Name, LoraAdapter Adapter)> _attached = new(ReferenceEqualityComparer.Instance);

    /// <param name="register">the owner's <c>register_module</c>.</param>
    /// <param name="unregister">removes a submodule of the owner by name.</param>
    public LoraSlots(Action<string, nn.Module> register, Func<string, bool> unregister, params (string Name, Linear Layer)[] projections)
    {
        _register = register;
        _unregister = unregister;
        _projections = projections;
    }

    public bool IsEmpty => _attached.Count == 0;

    /// <summary>The attached adapters, by the projection they adapt.</summary>
    public IEnumerable<(string Projection, LoraAdapter Adapter)> Adapters => _attached.Values.Select(v => (v.Name, v.Adapter));

    /// <summary>Adds an adapter (on the projection's device and dtype) to each targeted projection of this module.</summary>
    public void Attach(LoraConfig config)
    {
        if (!IsEmpty) throw new InvalidOperationException("LoRA adapters are already attached; merge them first");
        foreach (var (name, layer) in _projections.Where(p => config.Targets.Contains(p.Name)))
        {
            var adapter = new LoraAdapter(layer, config.Rank, config.Scaling, config.Dropout);
            adapter.train(layer.training); // a new module is in training mode; take the model's
            _register(name + "_lora", adapter);
            _attached[layer] = (name, adapter);
        }
    }

    /// <summary><paramref name="layer"/>'s output, plus its adapter's update where one is attached.</summary>
    public Tensor Forward(Linear layer, Tensor x)
    {
        if (!_attached.TryGetValue(layer, out var a)) return layer.forward(x);
        using var scope = torch.NewDisposeScope();
        return layer.forward(x).add(a.Adapter.forward(x), Scalars.One).MoveToOuterDisposeScope();
    }

    /// <summary>Folds every adapter into its projection's weight and removes it.</summary>
    public void Merge()
    {
        foreach (var (layer, (name, adapter)) in _attached)
        {
            adapter.MergeInto(layer);
            _unregister(name + "_lora");
            adapter.Dispose();
        }
        _attached.Clear();
    }
}
