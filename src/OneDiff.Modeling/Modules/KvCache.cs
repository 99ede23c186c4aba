using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Modules;

/// <summary>
/// A preallocated key/value cache for every decoder layer: (B, kvHeads, capacity, headDim) per
/// layer, filled in place, so generation allocates nothing that grows per token.
/// </summary>
public sealed class KvCache : IDisposable
{
    readonly Tensor[] _keys, _values;
    public int Length { get; private set; }
    public int Capacity { get; }

    public KvCache(int layers, long batch, int kvHeads, int capacity, int headDim, ScalarType dtype, Device device)
    {
        Capacity = capacity;
        _keys = new Tensor[layers];
        _values = new Tensor[layers];
        for (int i = 0; i < layers; i++)
        {
            // Owned by the cache alone, whatever dispose scope is open.
            _keys[i] = torch.zeros([batch, kvHeads, capacity, headDim], dtype, device).DetachFromDisposeScope();
            _values[i] = torch.zeros([batch, kvHeads, capacity, headDim], dtype, device).DetachFromDisposeScope();
        }
    }

    /// <summary>Every layer's whole key and value buffer, (B, kvHeads, capacity, headDim), for a
    /// caller that writes at <see cref="Length"/> itself (<see cref="ScriptedDecoderLayers"/>).</summary>
    public Tensor[] KeyBuffers => _keys;
    public Tensor[] ValueBuffers => _values;

    /// <summary>Writes the new keys/values of <paramref name="layer"/> at the current length and
    /// returns views of everything cached so far (valid until the next <see cref="Advance"/>).</summary>
    public (Tensor Keys, Tensor Values) Update(int layer, Tensor k, Tensor v)
    {
        long t = k.shape[2];
        if (Length + t > Capacity) throw new InvalidOperationException($"KV cache capacity {Capacity} exceeded (length {Length} + {t})");
        using (var kd = _keys[layer].narrow(2, Length, t)) kd.copy_(k);
        using (var vd = _values[layer].narrow(2, Length, t)) vd.copy_(v);
        return (_keys[layer].narrow(2, 0, Length + t), _values[layer].narrow(2, 0, Length + t));
    }

    /// <summary>Marks <paramref name="tokens"/> more positions as filled (after all layers ran).</summary>
    public void Advance(int tokens) => Length += tokens;

    /// <summary>Keeps the rows <paramref name="index"/> (beam search reordering).</summary>
    public void Reorder(Tensor index)
    {
        for (int i = 0; i < _keys.Length; i++)
        {
            var k = _keys[i].index_select(0, index).DetachFromDisposeScope();
            var v = _values[i].index_select(0, index).DetachFromDisposeScope();
            _keys[i].Dispose(); _values[i].Dispose();
            _keys[i] = k; _values[i] = v;
        }
    }

    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
