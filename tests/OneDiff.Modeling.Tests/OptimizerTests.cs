using OneDiff.Modeling.Training;
using OneDiff.Tests.Common;
using TorchSharp;
using TorchSharp.Modules;
using AdamW = OneDiff.Modeling.Training.AdamW;
using Parameter = TorchSharp.Modules.Parameter;
using Xunit;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

/// <summary>The fused AdamW and the foreach clipping against the update rules written out in
/// double precision (Loshchilov and Hutter's AdamW with PyTorch's bias corrections).</summary>
public class OptimizerTests
{
    sealed class ReferenceAdamW(double lr, double wd, int n)
    {
        readonly double[] _m = new double[n], _v = new double[n];
        int _t;

        public void Step(double[] p, double[] g, double lrScale)
        {
            _t++;
            double b1 = 0.9, b2 = 0.999, eps = 1e-8, a = lr * lrScale;
            for (int i = 0; i < p.Length; i++)
            {
                p[i] *= 1 - a * wd;
                _m[i] = b1 * _m[i] + (1 - b1) * g[i];
                _v[i] = b2 * _v[i] + (1 - b2) * g[i] * g[i];
                double mHat = _m[i] / (1 - Math.Pow(b1, _t)), vHat = _v[i] / (1 - Math.Pow(b2, _t));
                p[i] -= a * mHat / (Math.Sqrt(vHat) + eps);
            }
        }
    }

    static double[] Values(Tensor t) => t.detach().to(ScalarType.Float64).flatten().data<double>().ToArray();

    [Fact]
    public void FusedAdamWFollowsTheAdamWRulePerGroupOverSeveralSteps()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(3);
        var a = new Parameter(torch.randn(4, 5));
        var b = new Parameter(torch.randn(7));
        var c = new Parameter(torch.randn(3, 2));
        using var optimizer = new AdamW([new AdamW.Group("first", 1e-2, [("a", a), ("b", b)]), new AdamW.Group("second", 3e-2, [("c", c)])]) { WeightDecay = 0.1 };
        var refs = new[] { (P: a, Lr: 1e-2), (P: b, Lr: 1e-2), (P: c, Lr: 3e-2) }
            .Select(x => (x.P, Values: Values(x.P), Rule: new ReferenceAdamW(x.Lr, 0.1, (int)x.P.numel()))).ToList();
        double[] scales = [0.5, 1.0, 0.8, 0.3];
        foreach (double scale in scales)
        {
            foreach (var r in refs)
            {
                var g = torch.randn_like(r.P);
                r.P.grad = g;
                r.Rule.Step(r.Values, Values(g), scale);
            }
            optimizer.Update(scale);
            optimizer.ZeroGrad();
        }
        Assert.Equal(scales.Length, optimizer.Step);
        foreach (var r in refs)
        {
            var got = Values(r.P);
            for (int i = 0; i < got.Length; i++) Assert.True(Math.Abs(got[i] - r.Values[i]) < 1e-5, $"element {i}: {got[i]} vs the rule's {r.Values[i]}");
        }
    }

    [Fact]
    public void ParametersWithoutGradientsAreLeftAlone()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        var a = new Parameter(torch.ones(3));
        var b = new Parameter(torch.ones(3));
        using var optimizer = new AdamW([new AdamW.Group("g", 0.1, [("a", a), ("b", b)])]);
        a.grad = torch.ones(3);
        optimizer.Update(1.0);
        Assert.All(Values(a), x => Assert.Equal(0.9, x, 5));
        Assert.All(Values(b), x => Assert.Equal(1.0, x));
    }

    [Fact]
    public void BFloat16ParametersKeepTheirDtypeAndMoveLikeFloat32()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(4);
        var init = torch.randn(64);
        var grad = torch.randn(64);
        var full = new Parameter(init.clone());
        var half = new Parameter(init.to(ScalarType.BFloat16));
        using var o1 = new AdamW([new AdamW.Group("g", 1e-2, [("p", full)])]);
        using var o2 = new AdamW([new AdamW.Group("g", 1e-2, [("p", half)])]);
        full.grad = grad.clone();
        half.grad = grad.to(ScalarType.BFloat16);
        o1.Update(1.0);
        o2.Update(1.0);
        Assert.Equal(ScalarType.BFloat16, half.dtype);
        var moved = Values(half).Zip(Values(init.to(ScalarType.BFloat16))).Select(x => x.First - x.Second).ToArray();
        var expected = Values(full).Zip(Values(init)).Select(x => x.First - x.Second).ToArray();
        // The first step moves every weight by about lr; bf16 keeps 8 bits of the weight itself.
        for (int i = 0; i < moved.Length; i++) Assert.True(Math.Abs(moved[i] - expected[i]) < 2e-2, $"element {i}: {moved[i]} vs {expected[i]}");
    }

    [Fact]
    public void SmallUpdatesToBFloat16WeightsAccumulateThroughTheFp32Copy()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        // Each step moves a weight of 1 by about 1e-4, under half of bf16's spacing there (2^-8):
        // kept in bf16 alone the weight never moves; through the fp32 copy it moves as in fp32.
        var plain = new Parameter(torch.ones(8, dtype: ScalarType.BFloat16));
        var mastered = new Parameter(torch.ones(8, dtype: ScalarType.BFloat16));
        var full = new Parameter(torch.ones(8));
        using var o1 = new AdamW([new AdamW.Group("g", 1e-4, [("p", plain)])]);
        using var o2 = new AdamW([new AdamW.Group("g", 1e-4, [("p", mastered)])]) { MasterWeights = true };
        using var o3 = new AdamW([new AdamW.Group("g", 1e-4, [("p", full)])]) { MasterWeights = true };
        for (int i = 0; i < 100; i++)
        {
            plain.grad = torch.ones(8, dtype: ScalarType.BFloat16);
            mastered.grad = torch.ones(8, dtype: ScalarType.BFloat16);
            full.grad = torch.ones(8);
            o1.Update(1.0); o2.Update(1.0); o3.Update(1.0);
        }
        Assert.All(Values(plain), x => Assert.Equal(1.0, x));
        Assert.Equal(ScalarType.BFloat16, mastered.dtype);
        // fp32 went to about 0.99; the bf16 weight is that, rounded.
        Assert.All(Values(full), x => Assert.Equal(0.99, x, 3));
        Assert.Equal(Values(full.to(ScalarType.BFloat16)), Values(mastered));
    }

    [Fact]
    public void Fp32CopiesResumeFromTheSavedStateAndChunkingChangesNothing()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        torch.manual_seed(6);
        var init = new[] { torch.randn(4), torch.randn(7), torch.randn(2, 3) };
        var grads = Enumerable.Range(0, 6).Select(_ => init.Select(t => torch.randn_like(t).to(ScalarType.BFloat16)).ToArray()).ToArray();
        Parameter[] Fresh() => init.Select(t => new Parameter(t.to(ScalarType.BFloat16))).ToArray();
        AdamW Optimizer(Parameter[] ps, long chunk) =>
            new([new AdamW.Group("g", 2e-2, ps.Select((p, i) => ($"p{i}", p)).ToList())]) { MasterWeights = true, WeightDecay = 0.1, MasterChunkElements = chunk };
        void Steps(AdamW o, Parameter[] ps, int from, int to)
        {
            for (int s = from; s < to; s++)
            {
                for (int i = 0; i < ps.Length; i++) ps[i].grad = grads[s][i].clone();
                o.Update(1.0);
                o.ZeroGrad();
            }
        }
        var straight = Fresh();
        using (var o = Optimizer(straight, 1L << 28)) Steps(o, straight, 0, 6);

        // In chunks of at most 10 elements (4 + 7 > 10: three updates per step), saved after
        // three steps and resumed by a new optimizer: the same weights, bit for bit.
        var resumed = Fresh();
        string path = Path.Combine(TestPaths.NewTempDir("adamw"), "optimizer.safetensors");
        using (var o = Optimizer(resumed, 10)) { Steps(o, resumed, 0, 3); o.Save(path); }
        using (var o = Optimizer(resumed, 10)) { o.Load(path); Steps(o, resumed, 3, 6); }
        for (int i = 0; i < straight.Length; i++) Assert.Equal(Values(straight[i]), Values(resumed[i]));

        // A state saved without copies (bf16 moments) resumes with them, made from the weights.
        var switched = Fresh();
        string plainPath = Path.Combine(TestPaths.NewTempDir("adamw"), "plain.safetensors");
        using (var o = new AdamW([new AdamW.Group("g", 2e-2, switched.Select((p, i) => ($"p{i}", p)).ToList())]) { WeightDecay = 0.1 })
        { Steps(o, switched, 0, 3); o.Save(plainPath); }
        var before = switched.Select(Values).ToArray();
        using (var o = Optimizer(switched, 1L << 28)) { o.Load(plainPath); Assert.Equal(3, o.Step); Steps(o, switched, 3, 6); }
        for (int i = 0; i < switched.Length; i++)
        {
            Assert.Equal(ScalarType.BFloat16, switched[i].dtype);
            Assert.NotEqual(before[i], Values(switched[i]));
        }
    }

    [Fact]
    public void ClippingScalesAllGradientsToTheMaximumNormAndReturnsTheNormBefore()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        var a = new Parameter(torch.zeros(2)) { grad = torch.tensor(new float[] { 3, 0 }) };
        var b = new Parameter(torch.zeros(1)) { grad = torch.tensor(new float[] { 4 }) };
        var none = new Parameter(torch.zeros(1));
        using var total = GradientClipping.ClipByTotalNorm([a, b, none], 1.0)!;
        Assert.Equal(5.0, total.item<float>(), 5);
        Assert.Equal([0.6, 0.0], Values(a.grad!).Select(x => Math.Round(x, 5)));
        Assert.Equal([0.8], Values(b.grad!).Select(x => Math.Round(x, 5)));

        using var small = GradientClipping.ClipByTotalNorm([a, b], 10.0)!;
        Assert.Equal(1.0, small.item<float>(), 5);
        Assert.Equal([0.6, 0.0], Values(a.grad!).Select(x => Math.Round(x, 5)));
        Assert.Null(GradientClipping.ClipByTotalNorm([none], 1.0));
    }
}

public class OptimizerStressTests
{
    /// <summary>Thousands of updates while another thread keeps collecting: the hyperparameters
    /// reach the fused kernel as scalars that stay alive through the call (a temporary scalar the
    /// GC finalised mid-call crashed a quickstart run once).</summary>
    [Fact]
    public void UpdatesSurviveConcurrentGarbageCollections()
    {
        Runtime.TorchNativeLoader.EnsureLoaded();
        var p = new Parameter(torch.zeros(4));
        using var optimizer = new AdamW([new AdamW.Group("g", 1e-3, [("p", p)])]) { WeightDecay = 0.01 };
        BackgroundCollector.During(() =>
        {
            for (int i = 0; i < 3000; i++)
            {
                p.grad = torch.ones(4);
                optimizer.Update(1.0);
                using var norm = GradientClipping.ClipByTotalNorm([p], 1.0);
                optimizer.ZeroGrad();
            }
        });
        Assert.Equal(3000, optimizer.Step);
        Assert.All(p.detach().data<float>().ToArray(), x => Assert.True(x < 0, $"{x}"));
    }
}
