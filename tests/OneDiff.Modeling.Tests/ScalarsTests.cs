using OneDiff.Modeling.Modules;
using TorchSharp;
using Xunit;

namespace OneDiff.Modeling.Tests;

public class ScalarsTests
{
    [Fact]
    public void CachedScalarsOutliveCollectionsAndKeepTheirValues()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        var half = Scalars.Of(0.5);
        var seven = Scalars.Of(7L);
        Assert.Same(half, Scalars.Of(0.5));
        Assert.Same(seven, Scalars.Of(7L));
        // The process-wide cache holds them, so no finalizer frees one under a running operation.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var x = torch.ones(3).mul(Scalars.Of(0.5)).add(Scalars.Of(7L));
        Assert.Equal([7.5f, 7.5f, 7.5f], x.data<float>().ToArray());
    }
}
