using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Generation;

/// <summary>
/// Batched decoding for a <see cref="LlamaForCausalLM"/> from a prefix given as embeddings (the
/// multimodal prompt) with a left-padding attention mask. One prefill pass fills a preallocated KV
/// cache, then one token per step; positions follow the mask (cumsum - 1), as Hugging Face's
/// generate does. The only host synchronisation per step is reading the new tokens for the stop
/// check.
/// </summary>
public static class CaptionDecoder
{
    /// <returns>(B, new tokens) generated ids; finished rows are padded.</returns>
    public static long[][] Generate(LlamaForCausalLM lm, Tensor prefixEmbeds, Tensor attentionMask, GenerationOptions options)
    {
        if (options.MaxNewTokens <= 0) return Enumerable.Range(0, (int)prefixEmbeds.shape[0]).Select(_ => Array.Empty<long>()).ToArray();
        using var noGrad = torch.no_grad();
        return options.NumBeams <= 1 ? Greedy(lm, prefixEmbeds, attentionMask, options) : BeamSearch(lm, prefixEmbeds, attentionMask, options);
    }

    static Tensor Positions(Tensor mask)
    {
        using var scope = torch.NewDisposeScope();
        var p = mask.to(ScalarType.Int64).cumsum(-1).sub(Scalars.Of(1L));
        return p.masked_fill(mask.eq(Scalars.Of(0L)), Scalars.Of(1L)).MoveToOuterDisposeScope();
    }

    static long[][] Greedy(LlamaForCausalLM lm, Tensor prefix, Tensor mask, GenerationOptions o)
    {
        long b = prefix.shape[0];
        int prefixLen = (int)prefix.shape[1];
        var device = prefix.device;
        using var cache = lm.NewCache(b, prefixLen + o.MaxNewTokens, prefix.dtype, device);
        // The full mask over prefix + generated tokens, filled as tokens are generated.
        using var fullMask = torch.zeros([b, prefixLen + o.MaxNewTokens], ScalarType.Int64, device);
        using (var head = fullMask.narrow(1, 0, prefixLen)) head.copy_(mask);
        using var lastPos = Positions(mask).narrow(1, prefixLen - 1, 1).clone();

        var outputs = Enumerable.Range(0, (int)b).Select(_ => new List<long>()).ToArray();
        var finished = new bool[b];
        Tensor? next = null;
        try
        {
            for (int step = 0; step < o.MaxNewTokens; step++)
            {
                using var scope = torch.NewDisposeScope();
                Tensor logits;
                if (step == 0)
                {
                    using var positions = Positions(mask);
                    logits = lm.forward(prefix, mask, positions, cache);
                }
                else
                {
                    var position = lastPos.add(Scalars.Of((long)step));
                    var attended = fullMask.narrow(1, 0, prefixLen + step);
                    logits = lm.forward(lm.Embed(next!.unsqueeze(1)), attended, position, cache);
                }
                var token = logits.select(1, -1).argmax(-1);
                // Finished rows get the pad token (computed on the device; no sync needed).
                var done = torch.tensor(finished, device: device);
                token = token.masked_fill(done, Scalars.Of((long)o.PadTokenId));
                using (var col = fullMask.narrow(1, prefixLen + step, 1)) col.copy_(done.logical_not().to(ScalarType.Int64).unsqueeze(1));
                next?.Dispose();
                next = token.MoveToOuterDisposeScope();

                long[] host = next.cpu().data<long>().ToArray(); // the stop check
                for (int i = 0; i < b; i++)
                {
                    if (finished[i]) { outputs[i].Add(o.PadTokenId); continue; }
                    outputs[i].Add(host[i]);
                    if (o.EosTokenIds.Contains(host[i]) || EndsWithStop(outputs[i], o.StopSequences)) finished[i] = true;
                }
                if (finished.All(f => f)) break;
            }
        }
        finally { next?.Dispose(); }
        return outputs.Select(l => l.ToArray()).ToArray();
    }

    static bool EndsWithStop(List<long> tokens, IReadOnlyList<long[]> stops)
    {
        foreach (var s in stops)
        {
            if (s.Length == 0 || s.Length > tokens.Count) continue;
            bool match = true;
            for (int k = 0; k < s.Length && match; k++) match = tokens[tokens.Count - s.Length + k] == s[k];
            if (match) return true;
        }
        return false;
    }

    sealed record Hypothesis(long[] Tokens, double Score);

    static long[][] BeamSearch(LlamaForCausalLM lm, Tensor prefix, Tensor mask, GenerationOptions o)
    {
        int beams = o.NumBeams;
        long batch = prefix.shape[0];
        int prefixLen = (int)prefix.shape[1];
        var device = prefix.device;
        long rows = batch * beams;
        using var expandIndex = torch.arange(batch, device: device).repeat_interleave(beams);
        using var prefixB = prefix.index_select(0, expandIndex);
        using var maskB = mask.index_select(0, expandIndex);
        using var cache = lm.NewCache(rows, prefixLen + o.MaxNewTokens, prefix.dtype, device);
        var fullMask = torch.zeros([rows, prefixLen + o.MaxNewTokens], ScalarType.Int64, device);
        using (var head = fullMask.narrow(1, 0, prefixLen)) head.copy_(maskB);
        using var lastPos = Positions(maskB).narrow(1, prefixLen - 1, 1).clone();

        var sequences = Enumerable.Range(0, (int)rows).Select(_ => new List<long>()).ToArray();
        var beamScores = new double[rows];
        for (long r = 0; r < rows; r++) beamScores[r] = r % beams == 0 ? 0 : double.NegativeInfinity;
        var done = new List<Hypothesis>[batch];
        for (int i = 0; i < batch; i++) done[i] = [];
        var batchDone = new bool[batch];
        Tensor? next = null;
        try
        {
            for (int step = 0; step < o.MaxNewTokens; step++)
            {
                using var scope = torch.NewDisposeScope();
                Tensor logits = step == 0
                    ? lm.forward(prefixB, maskB, Positions(maskB), cache)
                    : lm.forward(lm.Embed(next!.unsqueeze(1)), fullMask.narrow(1, 0, prefixLen + step), lastPos.add(Scalars.Of((long)step)), cache);
                var logProbs = nn.functional.log_softmax(logits.select(1, -1).to(ScalarType.Float32), -1);
                var scores = logProbs + torch.tensor(beamScores, device: device).unsqueeze(1);
                long vocab = scores.shape[1];
                var (topScores, topIndex) = scores.view(batch, beams * vocab).topk(2 * beams, dim: 1);
                double[] hostScores = topScores.cpu().to(ScalarType.Float64).data<double>().ToArray();
                long[] hostIndex = topIndex.cpu().data<long>().ToArray();

                var nextTokens = new long[rows];
                var sourceRows = new long[rows];
                var newScores = new double[rows];
                for (int bi = 0; bi < batch; bi++)
                {
                    int filled = 0;
                    for (int c = 0; c < 2 * beams && filled < beams; c++)
                    {
                        long idx = hostIndex[bi * 2 * beams + c];
                        long beam = idx / vocab, token = idx % vocab;
                        long source = bi * beams + beam;
                        double score = hostScores[bi * 2 * beams + c];
                        if (double.IsNegativeInfinity(score)) continue;
                        var tokens = sequences[source].Append(token).ToList();
                        if (!batchDone[bi] && (o.EosTokenIds.Contains(token) || EndsWithStop(tokens, o.StopSequences)))
                        {
                            done[bi].Add(new Hypothesis(tokens.ToArray(), score / Math.Pow(tokens.Count, o.LengthPenalty)));
                            continue;
                        }
                        long row = bi * beams + filled++;
                        nextTokens[row] = batchDone[bi] ? o.PadTokenId : token;
                        sourceRows[row] = source;
                        newScores[row] = batchDone[bi] ? double.NegativeInfinity : score;
                    }
                    for (; filled < beams; filled++) { long row = bi * beams + filled; sourceRows[row] = bi * beams; nextTokens[row] = o.PadTokenId; newScores[row] = double.NegativeInfinity; }
                    if (done[bi].Count >= beams) batchDone[bi] = true;
                }
                var newSequences = new List<long>[rows];
                for (long r = 0; r < rows; r++) newSequences[r] = sequences[sourceRows[r]].Append(nextTokens[r]).ToList();
                sequences = newSequences;
                beamScores = newScores;
                using var reorder = torch.tensor(sourceRows, device: device);
                cache.Reorder(reorder);
                var reordered = fullMask.index_select(0, reorder);
                using (var col = reordered.narrow(1, prefixLen + step, 1)) col.fill_(Scalars.Of(1L));
                fullMask.Dispose();
                fullMask = reordered.MoveToOuterDisposeScope();
                next?.Dispose();
                next = torch.tensor(nextTokens, device: device).MoveToOuterDisposeScope();
                if (batchDone.All(d => d)) break;
            }
        }
        finally { next?.Dispose(); fullMask.Dispose(); }

        var result = new long[batch][];
        for (int bi = 0; bi < batch; bi++)
        {
            var candidates = done[bi].ToList();
            for (int k = 0; k < beams; k++)
            {
                long r = bi * beams + k;
                if (!double.IsNegativeInfinity(beamScores[r]))
                    candidates.Add(new Hypothesis(sequences[r].ToArray(), beamScores[r] / Math.Pow(Math.Max(1, sequences[r].Count), o.LengthPenalty)));
            }
            result[bi] = candidates.Count == 0 ? [] : candidates.MaxBy(h => h.Score)!.Tokens;
        }
        return result;
    }
}
