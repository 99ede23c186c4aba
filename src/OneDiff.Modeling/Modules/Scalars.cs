using System.Collections.Concurrent;
using TorchSharp;

namespace OneDiff.Modeling.Modules;

/// <summary>
/// Long-lived TorchSharp scalars. A number passed where TorchSharp takes a <see cref="Scalar"/>
/// becomes a native scalar that only its finalizer frees, and the finalizer may run while the
/// native operation still reads it: seen as "Expected false to be true ... toDouble" crashes in
/// long generation runs. Every scalar the model code passes comes from here (kept for the process;
/// the values are few: constants, ids, lengths) or is disposed by the caller after the call.
/// TorchSharp makes such a temporary itself where an overload leaves a number out: <c>a + b</c>,
/// and <c>add(b)</c> with a tensor or a scalar pass an alpha of 1 made for the call,
/// and <c>square()</c> an exponent of 2; so the model code writes <c>a.add(b, Scalars.One)</c> and
/// <c>a.pow(Scalars.Of(2L))</c> (ScalarRaceTests reproduced the crash with each of them).
/// </summary>
public static class Scalars
{
    static readonly ConcurrentDictionary<double, Scalar> Doubles = new();
    static readonly ConcurrentDictionary<long, Scalar> Longs = new();

    public static Scalar Of(double value) => Doubles.GetOrAdd(value, v => v.ToScalar());

    public static Scalar Of(long value) => Longs.GetOrAdd(value, v => v.ToScalar());

    /// <summary>The alpha of a plain tensor sum: <c>a.add(b, Scalars.One)</c>.</summary>
    public static readonly Scalar One = Of(1L);
}
