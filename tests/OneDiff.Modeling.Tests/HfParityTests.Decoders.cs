using OneDiff.Modeling.Checkpoints;
using OneDiff.Modeling.Generation;
using OneDiff.Modeling.Models.Llama;
using OneDiff.Modeling.Models.QFormer;
using Xunit;
using TorchSharp;
using static TorchSharp.torch;

namespace OneDiff.Modeling.Tests;

public partial class HfParityTests
{
    static void CheckQFormer(string dir, HfConfig config, Run run)
    {
        var model = run.Load(new QFormerModel(QFormerConfig.FromHf(config)), dir);
        var output = model.forward(run.Input("query_embeds"), run.Input("encoder_hidden_states"));
        run.Close(output, "last_hidden_state");
    }

    /// <summary>BERT weights in the VDM's self-attention and feed-forward (and its query LayerNorm,
    /// from the embeddings' LayerNorm), run without cross-attention, reproduce BertModel.</summary>
    static void CheckBert(string dir, HfConfig config, Run run)
    {
        int layers = config.GetInt("num_hidden_layers");
        var vdm = run.Load(new QFormerModel(QFormerConfig.FromBert(config, layers, encoderHiddenSize: 32)), dir, QFormerModel.BertName);
        using var checkpoint = SafetensorsCheckpoint.Open(dir);
        var ids = run.Input("input_ids");
        // BertEmbeddings before its LayerNorm: word + position + token type 0.
        var words = run.OnDevice(checkpoint.Read("embeddings.word_embeddings.weight")).index_select(0, ids.flatten()).view(ids.shape[0], ids.shape[1], -1);
        var positions = run.OnDevice(checkpoint.Read("embeddings.position_embeddings.weight")).narrow(0, 0, ids.shape[1]).unsqueeze(0);
        var tokenType = run.OnDevice(checkpoint.Read("embeddings.token_type_embeddings.weight"))[0];
        var output = vdm.forward(words + positions + tokenType, null);
        run.Close(output, "last_hidden_state");
    }

    static void CheckCausalLm(string dir, HfConfig config, Run run)
    {
        var io = run.Io;
        var lmConfig = LlamaConfig.FromHf(config);
        var model = new LlamaForCausalLM(lmConfig);
        using (var checkpoint = SafetensorsCheckpoint.Open(dir))
        {
            // The weights' dtype decides the run's dtype (llama_bf16 says bf16 in its weights, not its
            // config), unless the run asks for bf16.
            var dtype = run.Dtype == ScalarType.BFloat16 ? ScalarType.BFloat16 : checkpoint.Entry("model.embed_tokens.weight").DType;
            model.to(dtype);
            checkpoint.LoadInto(model, strict: true, model.CheckpointName);
            model.TieWeights();
        }
        model.to(TestDevice);
        model.eval();
        // q/k/v and gate/up are views of one buffer each (FusedProjections), for the fused products.
        Assert.All(model.model.layers, l => Assert.True(l.self_attn.ProjectionsFused && l.mlp.ProjectionsFused));
        var weightType = model.model.embed_tokens.weight!.dtype;
        var ids = io.Read("input_ids").to(TestDevice);
        var logits = model.ForwardIds(ids);
        var want = io.Read("logits");
        if (weightType == ScalarType.BFloat16)
        {
            Assert.Equal(ScalarType.BFloat16, logits.dtype);
            // Within bf16 rounding: a few units of the last place of bf16 (2^-8) over the whole tensor.
            // (Greedy tokens are not compared: bf16 rounding may flip a near tie.)
            Close(logits, want, "logits (bf16)", tolerance: 2e-2);
            return;
        }
        Close(logits, want, "logits from input_ids");
        Close(model.forward(io.Read("inputs_embeds").to(TestDevice)), io.Read("embeds_logits"), "logits from inputs_embeds");

        var prompt = io.Read("gen_prompt").to(TestDevice);
        var mask = io.Read("gen_attention_mask").to(TestDevice);
        var expected = io.Read("gen_output");
        int newTokens = (int)(expected.shape[1] - prompt.shape[1]);
        var options = new GenerationOptions
        {
            MaxNewTokens = newTokens,
            EosTokenIds = lmConfig.EosTokenId is { } eos ? [eos] : [],
            PadTokenId = lmConfig.PadTokenId ?? lmConfig.EosTokenId ?? 0,
        };
        var generated = CaptionDecoder.Generate(model, model.Embed(prompt), mask, options);
        var expectedRows = expected.data<long>().ToArray();
        int width = (int)expected.shape[1], promptLength = (int)prompt.shape[1];
        for (int row = 0; row < generated.Length; row++)
        {
            var want2 = expectedRows.Skip(row * width + promptLength).Take(newTokens).ToArray();
            var got = generated[row].Concat(Enumerable.Repeat(options.PadTokenId, newTokens - generated[row].Length)).ToArray();
            Assert.True(want2.SequenceEqual(got), $"row {row}: generated [{string.Join(",", got)}], reference [{string.Join(",", want2)}]");

            // The row alone, its padding removed: the no-mask path (SDPA's causal kernel, no mask per token).
            var keep = mask[row].nonzero().squeeze(1);
            using var alonePrompt = prompt[row].index_select(0, keep).unsqueeze(0);
            var alone = CaptionDecoder.Generate(model, model.Embed(alonePrompt), null, options)[0];
            var aloneGot = alone.Concat(Enumerable.Repeat(options.PadTokenId, newTokens - alone.Length)).ToArray();
            Assert.True(want2.SequenceEqual(aloneGot), $"row {row} alone: generated [{string.Join(",", aloneGot)}], reference [{string.Join(",", want2)}]");
        }
    }
}
