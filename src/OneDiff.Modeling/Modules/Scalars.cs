using System.Collections.Concurrent;
using TorchSharp;

namespace OneDiff.Modeling.Modules;

/// <summary>
/// Long-lived TorchSharp scalars. A number passed where TorchSharp takes a <see cref="Scalar"/>
/// becomes a native scalar that only its finalizer frees, and the finalizer may run while the
/// native operation still reads it: seen as "Expected false to be true ... toDouble" crashes in
/// long generation runs. Every scalar the model code passes comes from here (kept for the process;
/// the values are few: constants, ids, lengths) or is disposed by the caller after the call.
/// </summary>
public static class Scalars
{
    static readonly ConcurrentDictionary<double, Scalar> Doubles = new();
    static readonly ConcurrentDictionary<long, Scalar> Longs = new();

    public static Scalar Of(double value) => Doubles.GetOrAdd(value, v => v.ToScalar());

    public static Scalar Of(long value) => Longs.GetOrAdd(value, v => v.ToScalar());
}
