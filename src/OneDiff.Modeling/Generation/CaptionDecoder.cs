using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Modules;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Generation;

/// <summary>
/// Batched decoding for a <see cref="LlamaForCausalLM"/> from a prefix given as embeddings (the
/// multimodal prompt), with a left-padding attention mask or none (no row padded). One prefill pass
/// fills a preallocated KV cache, then one token per step; positions follow the mask (cumsum - 1),
/// as Hugging Face's generate does, and the head runs on the last position only. Greedy decoding
/// and sampling keep the tokens on the device and read them back every
/// <see cref="GenerationOptions.StopCheckInterval"/> steps for the stop check, so the host can
/// queue steps ahead of a GPU; each row may bring its own length, sampling and callback.
/// </summary>
public static class CaptionDecoder
{
    /// <param name="attentionMask">(B, prefix) 1/0 left-padding mask, or null where no row is padded.</param>
    /// <returns>(B, new tokens) generated ids; finished rows are padded.</returns>
    public static long[][] Generate(LlamaForCausalLM lm, Tensor prefixEmbeds, Tensor? attentionMask, GenerationOptions options)
    {
        if (options.Rows is null && options.MaxNewTokens <= 0) return Enumerable.Range(0, (int)prefixEmbeds.shape[0]).Select(_ => Array.Empty<long>()).ToArray();
        using var noGrad = torch.no_grad();
        if (options.NumBeams <= 1) return TokenByToken(lm, prefixEmbeds, attentionMask, options);
        if (options.Rows is not null) throw new ArgumentException("per-row decoding is for greedy and sampled decoding, not beam search", nameof(options));
        using var ones = attentionMask is null ? torch.ones(prefixEmbeds.shape[0], prefixEmbeds.shape[1], dtype: ScalarType.Int64, device: prefixEmbeds.device) : null;
        return BeamSearch(lm, prefixEmbeds, attentionMask ?? ones!, options);
    }

    static Tensor Positions(Tensor mask)
    {
        using var scope = torch.NewDisposeScope();
        var p = mask.to(ScalarType.Int64).cumsum(-1).sub(Scalars.Of(1L));
        return p.masked_fill(mask.eq(Scalars.Of(0L)), Scalars.Of(1L)).MoveToOuterDisposeScope();
    }

    /// <summary>Logits (B, vocab) of the last position.</summary>
    static Tensor LastLogits(LlamaForCausalLM lm, Tensor embeds, Tensor? mask, Tensor? positions, KvCache cache)
    {
        using var scope = torch.NewDisposeScope();
        var hidden = lm.Hidden(embeds, mask, positions, cache, lastPositionOnly: true);
        return lm.lm_head.forward(hidden.select(1, -1)).MoveToOuterDisposeScope();
    }

    static long[][] TokenByToken(LlamaForCausalLM lm, Tensor prefix, Tensor? mask, GenerationOptions o)
    {
        long b = prefix.shape[0];
        int prefixLen = (int)prefix.shape[1];
        var device = prefix.device;
        var rows = o.Rows ?? Enumerable.Repeat(new RowDecoding(), (int)b).ToList();
        if (rows.Count != b) throw new ArgumentException($"{rows.Count} row settings for {b} rows", nameof(o));
        foreach (var r in rows) r.Check();
        var rowMax = rows.Select(r => r.MaxNewTokens ?? o.MaxNewTokens).ToArray();
        int maxSteps = rowMax.Max();
        var sampler = rows.Any(r => r.Samples) ? new TokenSampler(rows, device) : null;
        int interval = Math.Max(1, o.StopCheckInterval ?? (device.type == DeviceType.CPU ? 1 : 8));
        using var cache = lm.NewCache(b, prefixLen + maxSteps, prefix.dtype, device);
        using var generated = torch.zeros([b, Math.Max(1, maxSteps)], ScalarType.Int64, device);
        // With left padding: the padded keys stay masked for every new token (one query: nothing
        // else to mask), a view of one additive mask; the positions continue each row's own count.
        using var keyMask = mask is null ? null : KeyPaddingMask(mask, maxSteps, prefix.dtype);
        using var lastPos = mask is null ? null : Positions(mask).narrow(1, prefixLen - 1, 1).clone();

        var outputs = Enumerable.Range(0, (int)b).Select(_ => new List<long>()).ToArray();
        var endedAt = new int[b];
        for (int i = 0; i < b; i++) endedAt[i] = rowMax[i] == 0 ? -2 : -1;
        int steps = 0, read = 0;
        Tensor? next = null;
        try
        {
            for (int step = 0; step < maxSteps && endedAt.Any(e => e == -1); step++)
            {
                using var scope = torch.NewDisposeScope();
                Tensor logits = step == 0
                    ? LastLogits(lm, prefix, mask, mask is null ? null : Positions(mask), cache)
                    : LastLogits(lm, lm.Embed(next!.unsqueeze(1)), keyMask?.narrow(3, 0, prefixLen + step),
                        lastPos?.add(Scalars.Of((long)step), Scalars.One), cache);
                // Rows that ended keep decoding (rows do not interact); their tokens are dropped below.
                var token = sampler is null ? logits.argmax(-1) : sampler.Next(logits);
                using (var col = generated.narrow(1, step, 1)) col.copy_(token.unsqueeze(1));
                next?.Dispose();
                next = token.MoveToOuterDisposeScope();
                steps = step + 1;
                if (steps % interval != 0 && steps != maxSteps) continue;

                using var fresh = generated.narrow(1, read, steps - read).cpu();
                long[] host = fresh.data<long>().ToArray();
                int width = steps - read;
                for (int i = 0; i < b; i++)
                {
                    if (endedAt[i] != -1) continue;
                    for (int k = 0; k < width && endedAt[i] < 0; k++)
                    {
                        outputs[i].Add(host[i * width + k]);
                        if (o.EosTokenIds.Contains(outputs[i][^1]) || EndsWithStop(outputs[i], o.StopSequences) || outputs[i].Count == rowMax[i]) endedAt[i] = read + k;
                    }
                    if (rows[i].OnTokens?.Invoke(outputs[i]) == true && endedAt[i] < 0) endedAt[i] = steps - 1;
                }
                read = steps;
            }
        }
        finally { next?.Dispose(); }
        // As if decoding had stopped at the step where the last row ended: finished rows padded.
        int length = endedAt.All(e => e != -1) ? endedAt.Max() + 1 : steps;
        foreach (var row in outputs) while (row.Count < length) row.Add(o.PadTokenId);
        return outputs.Select(l => l.Take(length).ToArray()).ToArray();
    }

    /// <summary>(B, 1, 1, prefix + new tokens) additive mask of the padded prefix keys.</summary>
    static Tensor KeyPaddingMask(Tensor mask, int newTokens, ScalarType dtype)
    {
        using var scope = torch.NewDisposeScope();
        var full = torch.cat([mask.to(ScalarType.Int64), torch.ones(mask.shape[0], newTokens, dtype: ScalarType.Int64, device: mask.device)], 1);
        return Masks.Padding(full, dtype).MoveToOuterDisposeScope();
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
        using var expandIndex = torch.arange(Scalars.Of((long)batch), device: device).repeat_interleave(beams);
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
                    ? LastLogits(lm, prefixB, maskB, Positions(maskB), cache)
                    : LastLogits(lm, lm.Embed(next!.unsqueeze(1)), fullMask.narrow(1, 0, prefixLen + step), lastPos.add(Scalars.Of((long)step), Scalars.One), cache);
                var logProbs = nn.functional.log_softmax(logits.to(ScalarType.Float32), -1);
                var scores = logProbs.add(torch.tensor(beamScores, device: device).unsqueeze(1), Scalars.One);
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
